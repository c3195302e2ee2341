"""MegEngine's module path ``megengine.jit.tracing``: the home of ``trace`` and ``TraceError``.

Example:
    >>> from mge.jit.tracing import trace
    >>> @trace(symbolic=True)
    ... def f(x):
    ...     return x * 2
"""

from .trace import trace
from .trace_check import TraceError

__all__ = ["TraceError", "trace"]
