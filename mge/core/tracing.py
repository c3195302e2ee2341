"""Hooks for module-level tracers (TracedModule) at the functional and method layer.

``apply`` sees ops; a TracedModule tracer wants to see *calls*: ``F.relu(x)``,
``x.reshape(...)``, ``conv(x)``. Public functions and Tensor methods are wrapped
with :func:`traceable`; when a call tracer is active it is given the call first and
decides whether to record it (and runs the real function with itself paused).
Outside tracing the wrapper costs one global lookup.

Example:
    >>> @traceable
    ... def double(x):
    ...     return x * 2
    >>> double(3)
    6
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, Protocol


class CallTracer(Protocol):
    """What a module-level tracer implements."""

    def call(self, fn: Callable, public: Callable, args: tuple, kwargs: dict) -> Any:
        """Record and run ``fn(*args, **kwargs)``; ``public`` is the wrapped name users see."""


_active: list[CallTracer | None] = [None]
#: ``mge.jit.trace``'s state, kept here so that ``F`` functions can ask it: the depth of
#: calls being recorded into a graph, and whether an ``exclude_from_trace`` block runs
JIT_STATE = {"active": 0, "excluded": False}


def jit_tracing() -> bool:
    """True while ``mge.jit.trace`` records a call into a graph (outside excluded blocks):
    values read then are baked into the graph."""
    return bool(JIT_STATE["active"]) and not JIT_STATE["excluded"]


@contextlib.contextmanager
def jit_excluded() -> Iterator[None]:
    """Run the block as ``mge.jit.exclude_from_trace`` does: eagerly on every call, its
    results read by the recording as values that change from call to call."""
    previous = JIT_STATE["excluded"]
    JIT_STATE["excluded"] = True
    try:
        yield
    finally:
        JIT_STATE["excluded"] = previous


def active_call_tracer() -> CallTracer | None:
    """The current call tracer, or None."""
    return _active[0]


@contextlib.contextmanager
def call_tracer(tracer: CallTracer | None) -> Iterator[None]:
    """Install ``tracer`` (or pause tracing with None) for the duration of the block."""
    previous = _active[0]
    _active[0] = tracer
    try:
        yield
    finally:
        _active[0] = previous


#: ``fn(tensor, args, kwargs)`` called after each ``Tensor(...)`` construction (a module
#: tracer records ``Tensor([1, x])`` on traced values); see :func:`observe_tensor_init`
TENSOR_INIT_OBSERVERS: list[Callable[[Any, tuple, dict], None]] = []


@contextlib.contextmanager
def observe_tensor_init(fn: Callable[[Any, tuple, dict], None]) -> Iterator[None]:
    """Call ``fn(tensor, args, kwargs)`` after every ``Tensor(*args, **kwargs)`` built in
    the block (``args`` holds the data, ``kwargs`` the other arguments given). While any
    observer is registered, a construction runs with call tracing paused (reading a
    traced input's value is what the observer records, not a use of it).

    Example:
        >>> from mge.core.tensor.base import Tensor
        >>> seen = []
        >>> with observe_tensor_init(lambda t, args, kwargs: seen.append(kwargs)):
        ...     _ = Tensor([1.0], dtype="float16")
        >>> seen
        [{'dtype': 'float16'}]
    """
    TENSOR_INIT_OBSERVERS.append(fn)
    try:
        yield
    finally:
        TENSOR_INIT_OBSERVERS.remove(fn)


class ValueReadObserver(Protocol):
    """What :func:`observe_value_reads` calls: ``jit.trace`` records the shape-derived
    values user code reads in Python (they would be baked into a dumped graph)."""

    def read(self, tensor: Any, what: str) -> None:
        """``tensor``'s value was read in Python (``what``: ``"numpy()"``, ``"bool()"``)."""

    def cover(self, tensor: Any) -> None:
        """The latest read of ``tensor`` was passed on as a graph input as well (a shape
        input of ``Reshape``/``Broadcast``): the graph follows it, nothing is baked."""


#: the active :class:`ValueReadObserver` s (see :func:`observe_value_reads`)
VALUE_READ_OBSERVERS: list[ValueReadObserver] = []


@contextlib.contextmanager
def observe_value_reads(observer: ValueReadObserver) -> Iterator[None]:
    """Tell ``observer`` of every Python read of a tensor's value in the block.

    Example:
        >>> from mge.core.tensor.base import Tensor
        >>> class Log:
        ...     seen = []
        ...     def read(self, t, what): self.seen.append(what)
        ...     def cover(self, t): pass
        >>> with observe_value_reads(Log()):
        ...     _ = Tensor([1.0]).numpy()
        >>> Log.seen
        ['numpy()']
    """
    VALUE_READ_OBSERVERS.append(observer)
    try:
        yield
    finally:
        VALUE_READ_OBSERVERS.remove(observer)


def cover_value_reads(tensors: Any) -> None:
    """Tell the observers that the latest reads of ``tensors`` are also graph inputs of
    the op being built (:meth:`ValueReadObserver.cover`)."""
    for observer in VALUE_READ_OBSERVERS:
        for t in tensors:
            observer.cover(t)


def traceable(fn: Callable) -> Callable:
    """Wrap a public function or method so that an active call tracer sees its calls."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tracer = _active[0]
        if tracer is None:
            return fn(*args, **kwargs)
        return tracer.call(fn, wrapper, args, kwargs)

    wrapper.__mge_traceable__ = fn  # type: ignore[attr-defined]
    return wrapper
