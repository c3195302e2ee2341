"""What a backward pass takes from the distributed layer: gradients that arrive later
(MegEngine's ``utils.future.Future``), the manager now running ``backward``, and outputs
kept for backward.

A ``GradManager.attach`` callback may return a :class:`Future` instead of a gradient (the
all-reduce callback of data parallelism does: it reduces every gradient together once the
backward pass ends); the manager takes the value when it stores the gradient. A collective
whose output a rank does not use (``reduce_sum`` off the root, ``remote_send``) still has
a backward collective to join: :func:`keep_for_backward` makes the next backward pass
(``Grad.__call__``) of the sessions tracking that output start from it too, with a zero
gradient, as MegEngine's ``_refkeeper`` does.

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
_kept: list[Any] = []


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


def keep_for_backward(t: Any) -> None:
    """Make the next backward pass of every session tracking ``t`` start from ``t`` too."""
    if t._tape:
        _kept.append(t)


def take_kept(session: Any) -> list[Any]:
    """The kept tensors ``session`` tracks (removed from the list, with those no live
    session tracks any more)."""
    mine = [t for t in _kept if session.var_of(t) is not None]
    _kept[:] = [t for t in _kept if session.var_of(t) is None
                and any(g.level >= 0 for g in (t._tape or {}))]
    return mine


__all__ = ["Future", "backwarding_grad_manager", "keep_for_backward", "pop_backwarding",
           "push_backwarding", "take_kept"]
