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
