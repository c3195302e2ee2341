"""Static graphs from eager code: ``trace`` and ``.mge`` dumping (MegEngine's ``jit``)."""

from .trace import TraceError, trace

__all__ = ["TraceError", "trace"]
