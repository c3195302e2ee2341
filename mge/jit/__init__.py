"""Static graphs from eager code: ``trace`` and ``.mge`` dumping (MegEngine's ``jit``)."""

from .graph_opt_config import GraphOptimizationConfig
from .partial_tracing import partial_trace
from .trace import trace
from .trace_check import TraceError, exclude_from_trace, is_tracing

__all__ = ["GraphOptimizationConfig", "TraceError", "exclude_from_trace", "is_tracing",
           "partial_trace", "trace"]
