"""``megengine.core._wrap``: MegEngine's ``Device`` wrapper of a ``CompNode``.

User code (and MegEngine's own tests) write ``Device("xpux").to_c()`` to get the
``CompNode`` that creation functions take as ``device``.

Example:
    >>> d = Device("cpu0")
    >>> str(d), d.to_c().logical_name, Device(d) == "cpu0"
    ('cpu0', 'cpu0:0', True)
"""

from __future__ import annotations

from typing import Any

from ._imperative_rt import CompNode


class Device:
    """A device: ``None`` (``xpux``), a name, a ``CompNode`` or another ``Device``."""

    def __init__(self, device: Any = None) -> None:
        if isinstance(device, Device):
            self._cn = device._cn
        else:
            self._cn = CompNode() if device is None else CompNode(device)

    @property
    def logical_name(self) -> str:
        """The name with its stream (``cpu0:0``)."""
        return self._cn.logical_name

    def to_c(self) -> CompNode:
        """The ``CompNode``."""
        return self._cn

    def __repr__(self) -> str:
        return f"Device({str(self._cn)!r})"

    def __str__(self) -> str:
        return str(self._cn)

    def __hash__(self) -> int:
        return hash(str(self._cn))

    def __eq__(self, other: object) -> bool:
        other = other if isinstance(other, Device) else Device(other)
        return str(self._cn) == str(other._cn)


def as_device(obj: Any) -> Device:
    """``obj`` as a :class:`Device`."""
    return obj if isinstance(obj, Device) else Device(obj)


__all__ = ["Device", "as_device"]
