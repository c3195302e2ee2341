"""``megengine.core._imperative_rt``: the names of MegEngine's C++ runtime module that
user-level code (and MegEngine's own tests) reach for: :mod:`.core2`, :mod:`.ops` (rng
handles) and ``CompNode``."""

from ...device import DeviceName, parse_device
from . import core2, ops


class CompNode(DeviceName):
    """MegEngine's ``CompNode``: a checked device name, equal to the ``Tensor.device``
    of tensors placed there.

    Example:
        >>> str(CompNode("xpu2")), CompNode("cpu0").logical_name
        ('xpu2', 'cpu0:0')
    """

    __slots__ = ()

    def __new__(cls, name: str = "xpux") -> "CompNode":
        parse_device(str(name))
        return super().__new__(cls, str(name))


__all__ = ["CompNode", "core2", "ops"]
