"""Gradients that arrive later (MegEngine's ``utils.future.Future``) and the
``GradManager`` now running ``backward``.

A ``GradManager.attach`` callback may return a :class:`Future` instead of a gradient (the
all-reduce callback of data parallelism does: it reduces every gradient together once the
backward pass ends); the manager takes the value when it stores the gradient.

Example:
    >>> f = Future()
    >>> f.set(3)
    >>> f.get()
    3
"""

from __future__ import annotations

import threading
from typing import Any

_backwarding: list[Any] = []


class Future:
    """A value set once by one party (``set``) and read by another (``get``, which waits)."""

    def __init__(self, ack: bool = False) -> None:
        self.ready = threading.Event()
        self.ack = threading.Event() if ack else None
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value
        self.ready.set()
        if self.ack:
            self.ack.wait()

    def get(self) -> Any:
        if not self.ready.is_set():
            raise RuntimeError("Future.get: the value was never set (a GradManager callback "
                               "returned a Future that its after-backward step did not fill)")
        if self.ack:
            self.ack.set()
        return self.value


def backwarding_grad_manager() -> Any:
    """The ``GradManager`` whose ``backward`` is running (None outside one)."""
    return _backwarding[-1] if _backwarding else None


def push_backwarding(manager: Any) -> None:
    _backwarding.append(manager)


def pop_backwarding() -> None:
    _backwarding.pop()


__all__ = ["Future", "backwarding_grad_manager", "pop_backwarding", "push_backwarding"]
