"""megenginelite's callback decorators: ``wrap_async_callback``, ``start_finish_callback``.

In megenginelite they turn Python functions into C callbacks. mge.lite calls Python
functions directly, so the decorators mark a function as a Lite callback (and check it
is callable); ``LiteNetwork.async_with_callback``/``set_start_callback``/
``set_finish_callback`` (:class:`NetworkCallbacks`) take decorated and plain functions
alike.

Example:
    >>> @start_finish_callback
    ... def show(ios):
    ...     return 0
    >>> show({})
    0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .struct import LiteTypeError

#: ``callback({LiteIO: LiteTensor})`` of ``set_start_callback``/``set_finish_callback``
IOCallback = Callable[[dict[Any, Any]], Any]


class _LiteCallback:
    """A function marked as a Lite callback of one kind."""

    def __init__(self, func: Callable[..., Any], kind: str) -> None:
        if not callable(func):
            raise LiteTypeError(f"a Lite {kind} callback must be callable, got "
                                f"{type(func).__name__}")
        self.func, self.kind = func, kind
        self.__wrapped__ = func
        self.__doc__ = getattr(func, "__doc__", None)

    def __call__(self, *args: Any) -> Any:
        return self.func(*args)

    def __repr__(self) -> str:
        return f"<Lite {self.kind} callback {self.func!r}>"


def wrap_async_callback(func: Callable[[], Any]) -> Callable[[], Any]:
    """Mark ``func()`` as the callback run when an async forward finishes."""
    return func if isinstance(func, _LiteCallback) else _LiteCallback(func, "async")


def start_finish_callback(func: IOCallback) -> IOCallback:
    """Mark ``func({LiteIO: LiteTensor})`` as a start or finish callback."""
    return func if isinstance(func, _LiteCallback) else _LiteCallback(func, "start/finish")


class NetworkCallbacks:
    """``LiteNetwork``'s callback setters (the network calls what they set)."""

    _async: Callable[[], Any] | None
    _start: IOCallback | None
    _finish: IOCallback | None

    def async_with_callback(self, async_callback: Callable[[], Any]) -> None:
        """Make ``forward`` asynchronous; ``async_callback()`` runs when it finishes."""
        self._async = wrap_async_callback(async_callback)

    def set_start_callback(self, start_callback: IOCallback) -> None:
        """Call ``start_callback({LiteIO: LiteTensor})`` with the inputs before each forward."""
        self._start = start_finish_callback(start_callback)

    def set_finish_callback(self, finish_callback: IOCallback) -> None:
        """Call ``finish_callback({LiteIO: LiteTensor})`` with the outputs after each forward."""
        self._finish = start_finish_callback(finish_callback)


__all__ = ["IOCallback", "NetworkCallbacks", "start_finish_callback", "wrap_async_callback"]
