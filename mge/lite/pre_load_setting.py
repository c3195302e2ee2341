"""A network setting that may change only before the model is loaded (megenginelite's
``threads_number``, ``stream_id``, ``device_id``).

Example:
    >>> from mge.lite import LiteNetwork
    >>> network = LiteNetwork()
    >>> network.threads_number = 2        # before load: fine; after load: LiteError
    >>> network.threads_number
    2
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .struct import LiteValueError

if TYPE_CHECKING:
    from .network import LiteNetwork


class SetBeforeLoad:
    """An int setting of a network that changes only before ``load`` (kept in ``slot``;
    ``LiteValueError`` below ``minimum``)."""

    def __init__(self, slot: str, doc: str, minimum: int | None = None) -> None:
        self.slot, self.minimum, self.__doc__ = slot, minimum, doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, network: Any, owner: type | None = None) -> Any:
        return self if network is None else getattr(network, self.slot)

    def __set__(self, network: LiteNetwork, value: int) -> None:
        network._check_unloaded(self.name)
        if self.minimum is not None and int(value) < self.minimum:
            raise LiteValueError(f"{self.name} must be >= {self.minimum}, got {value}")
        setattr(network, self.slot, int(value))


__all__ = ["SetBeforeLoad"]
