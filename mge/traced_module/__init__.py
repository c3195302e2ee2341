"""``mge.traced_module`` (``tm``): trace a Module into an editable, picklable graph.

Example:
    >>> import mge.traced_module as tm
    >>> traced = tm.trace_module(net, data)  # doctest: +SKIP
    >>> print(traced.graph)  # doctest: +SKIP
    >>> fused = tm.optimize(traced, enabled_pass=["FuseConvBn"])  # doctest: +SKIP
"""

from .checker import disable_default_checker, enable_expr_checker
from .expr import Apply, CallFunction, CallMethod, Constant, Expr, GetAttr, Input
from .graph import GraphError, InternalGraph
from .load_checks import check_graph  # noqa: F401 (registers mge.load's graph check)
from .node import ModuleNode, Node, TensorNode
from .passes import optimize
from .pytree import register_supported_type
from .recording import TraceError, register_as_builtin, wrap
from .traced_module import TracedModule, trace_module

__all__ = [
    "Apply", "CallFunction", "CallMethod", "Constant", "Expr", "GetAttr", "GraphError",
    "Input", "InternalGraph", "ModuleNode", "Node", "TensorNode", "TraceError", "TracedModule",
    "disable_default_checker", "enable_expr_checker", "optimize", "register_as_builtin",
    "register_supported_type", "trace_module", "wrap",
]
