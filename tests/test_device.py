"""``mge.device.CompNode`` (MegEngine's ``megengine.device.CompNode``)."""

from __future__ import annotations

import pytest

import mge
from mge.core._imperative_rt import CompNode as RuntimeCompNode
from mge.device import CompNode, get_default_device


def test_compnode_is_the_checked_device_name() -> None:
    assert CompNode is RuntimeCompNode
    node = CompNode(get_default_device())
    assert node == "xpux" and CompNode() == node and CompNode("cpux").logical_name == "cpux:0"
    assert mge.tensor([1.0], device=CompNode("cpu0")).device == CompNode("cpu0")
    with pytest.raises(ValueError, match="invalid device name"):
        CompNode("npu0")


def test_coalesce_free_memory_is_a_no_op_hint() -> None:
    """MegEngine/FINet calls ``megengine.coalesce_free_memory()`` in its forward."""
    import mge

    assert mge.coalesce_free_memory() is None
    assert mge.device.coalesce_free_memory is mge.coalesce_free_memory
