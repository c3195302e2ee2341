"""``megengine.core._wrap.Device``: MegEngine's wrapper of a CompNode."""

from __future__ import annotations

import numpy as np
import pytest

import mge.functional as F
from mge.core._imperative_rt import CompNode
from mge.core._wrap import Device, as_device


def test_device_wraps_a_comp_node() -> None:
    d = Device("xpux")
    assert isinstance(d.to_c(), CompNode) and str(d) == "xpux"
    assert Device(d) == d == "xpux" and as_device(d) is d and hash(d) == hash(Device("xpux"))
    assert Device().logical_name == "xpux:0" and repr(Device("cpu0")) == "Device('cpu0')"
    np.testing.assert_allclose(F.linspace(3, 10, 3, device=d.to_c()).numpy(), [3, 6.5, 10])
    with pytest.raises(ValueError, match="invalid device name"):
        Device("tpu9")
