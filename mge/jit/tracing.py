"""MegEngine's module path ``megengine.jit.tracing``: the home of ``trace`` and ``TraceError``.

Example:
    >>> from mge.jit.tracing import trace
    >>> @trace(symbolic=True)
    ... def f(x):
    ...     return x * 2
"""

from ..core._trace_option import set_symbolic_shape  # MegEngine's tests import it from here
from .trace import trace
from .trace_check import TraceError, exclude_from_trace, is_tracing

__all__ = ["TraceError", "exclude_from_trace", "is_tracing", "set_symbolic_shape", "trace"]
