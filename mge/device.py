"""Devices in MegEngine's naming: ``cpu0``, ``gpu0``, ``xpux`` (any).

Example:
    >>> get_default_device()
    'xpux'
    >>> parse_device("gpu1")
    ('gpu', 1)
"""

from __future__ import annotations

import os
import re

_DEVICE_RE = re.compile(r"^(cpu|gpu|xpu|cuda)(\d+|x)?(?::\d+)?$")
_default_device = "xpux"


def parse_device(name: str) -> tuple[str, int]:
    """Split a device name into (kind, index); index -1 means "any" (``x``).

    Raises:
        ValueError: if the name is not a MegEngine device name.
    """
    m = _DEVICE_RE.match(str(name).strip().lower())
    if m is None:
        raise ValueError(f"invalid device name {name!r}: expected cpu0, gpu0, xpux, ...")
    kind = "gpu" if m.group(1) == "cuda" else m.group(1)
    idx = m.group(2)
    return kind, (-1 if idx in (None, "x") else int(idx))


class DeviceName(str):
    """A device name as ``Tensor.device`` gives it: a ``str`` (``"cpu0"``) that also has
    MegEngine's ``CompNode.logical_name`` (``"cpu0:0"``: the stream made explicit).

    Example:
        >>> DeviceName("cpu0").logical_name, DeviceName("gpu1:2").logical_name
        ('cpu0:0', 'gpu1:2')
    """

    __slots__ = ()

    @property
    def logical_name(self) -> str:
        return self if ":" in self else f"{self}:0"

    def __reduce__(self) -> tuple:
        return (str, (str(self),))  # pickles (TracedModule graphs) hold a plain str


class CompNode(DeviceName):
    """MegEngine's ``CompNode`` (``megengine.device.CompNode``): a checked device name,
    equal to the ``Tensor.device`` of tensors placed there.

    Example:
        >>> str(CompNode("xpu2")), CompNode("cpu0").logical_name
        ('xpu2', 'cpu0:0')
    """

    __slots__ = ()

    def __new__(cls, name: str = "xpux") -> CompNode:
        parse_device(str(name))
        return super().__new__(cls, str(name))


def get_default_device() -> str:
    """The device new tensors are placed on."""
    return _default_device


def set_default_device(device: str = "xpux") -> None:
    """Set the device new tensors are placed on (validated)."""
    global _default_device
    parse_device(device)
    _default_device = device


def is_cuda_available() -> bool:
    """True when the torch backend can see a CUDA GPU."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def get_device_count(device_type: str = "gpu") -> int:
    """Number of devices of a kind, as MegEngine counts them: ``cpu`` is the number of
    hardware threads, ``gpu`` the CUDA devices, ``xpu`` the CUDA devices where there are
    any, else the CPU count.

    Example:
        >>> get_device_count("cpu") >= 1
        True
    """
    if device_type.startswith("cpu") or (device_type.startswith("xpu")
                                         and not is_cuda_available()):
        return os.cpu_count() or 1
    if not is_cuda_available():
        return 0
    import torch

    return int(torch.cuda.device_count())


def coalesce_free_memory() -> None:
    """MegEngine's hint to return free memory chunks to the system. mge keeps no memory
    pool of its own (arrays are freed when their last reference goes), so there is
    nothing to coalesce; it returns None, like MegEngine.

    Example:
        >>> coalesce_free_memory()
    """
