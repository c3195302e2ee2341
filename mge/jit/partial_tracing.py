"""MegEngine's ``jit.partial_trace``: trace one piece of a training step (a module's
``forward``, a helper) while the rest of the step stays eager.

MegEngine records the piece's forward ops and the backward ops autodiff runs for them,
and from the second call runs the two recordings as a custom ``Function``. mge's traces
run the Python code on every call and check each op against the recording
(:class:`~mge.jit.trace`): the forward is recorded and checked, ``TraceError`` is raised
where a later call does something else, and gradients flow through the same ops eagerly,
so values and gradients are the ones the eager code gives (as MegEngine's replay gives).

As in MegEngine, the piece may read only its tensor arguments and the parameters of its
module arguments (``self`` of a method): any other tensor it reads raises
``RuntimeError`` unless ``capture_as_const=True`` snapshots it.

Example:
    >>> import mge, mge.functional as F
    >>> @partial_trace
    ... def f(a, b):
    ...     return a * b + a / b
    >>> f(mge.tensor([2.0]), mge.tensor([4.0])).numpy()
    array([8.5], dtype=float32)
    >>> f(mge.tensor([1.0]), mge.tensor([2.0])).numpy()   # checked against the recording
    array([2.5], dtype=float32)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .trace import trace

#: MegEngine's ``JIT_BACKEND`` names; mge has the default one only
_BACKENDS = ("default", "xla")


def partial_trace(func: Callable | None = None, *, backend: str = "default",
                  without_host: bool = True, **trace_options: Any) -> Any:
    """Trace ``func`` for use inside an eager training step (MegEngine's signature).

    Args:
        func: the function or method to trace; ``@partial_trace`` and
            ``@partial_trace(...)`` both work.
        backend: ``"default"``; MegEngine's ``"xla"`` needs XLA, which mge does not have
            (``NotImplementedError``).
        without_host: must be True, as in MegEngine (``AssertionError`` otherwise).
        trace_options: :class:`~mge.jit.trace` options (``capture_as_const``,
            ``symbolic``, ``opt_level``, ...).

    Returns:
        A function with ``func``'s signature returning what ``func`` returns.
    """
    assert backend in _BACKENDS, f"partial_trace: unknown backend {backend!r}"
    assert without_host, "partial_trace only support without_host mode currently!"
    if backend == "xla":
        raise NotImplementedError("partial_trace(backend='xla'): mge has no XLA backend; "
                                  "use backend='default'")

    def wrapper(fn: Callable) -> Callable:
        traced = trace(fn, without_host=True, **trace_options)
        traced._module_params_as_inputs = True

        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return traced(*args, **kwargs)

        wrapped.trace = traced  # type: ignore[attr-defined]
        return wrapped

    return wrapper if func is None else wrapper(func)


__all__ = ["partial_trace"]
