"""Const passes: AttrToConstant (module tensors become constants) and FlodConstant
(exprs whose inputs are all constants are computed once)."""

from __future__ import annotations

from typing import Any

from ...core.tracing import call_tracer
from ...tensor import Tensor
from ..expr import Apply, CallFunction, CallMethod, Constant, GetAttr
from ..node import TensorNode
from .optimization import register_pass
from .utils import all_graphs, attr_value


@register_pass("AttrToConstant")
def attr_to_constant(module: Any) -> bool:
    """Replace ``getattr(self, "w")`` tensor reads by Constant exprs holding a copy."""
    changed = False
    for graph in all_graphs(module):
        for expr in list(graph._exprs):
            if isinstance(expr, GetAttr) and isinstance(expr.outputs[0], TensorNode):
                value = attr_value(expr.outputs[0])
                const = Constant(Tensor(value.numpy()), expr.outputs[0])
                const.graph = graph
                expr.inputs[0].users.remove(expr)
                graph._exprs[graph._exprs.index(expr)] = const
                changed = True
    return changed


@register_pass("FlodConstant")
def fold_constant(module: Any) -> bool:
    """Evaluate function/method/apply exprs whose inputs are all constants (MegEngine's name)."""
    changed = False
    for graph in all_graphs(module):
        for expr in list(graph._exprs):
            if not isinstance(expr, (CallFunction, CallMethod, Apply)) or not expr.inputs:
                continue
            if not all(isinstance(n.expr, Constant) for n in expr.inputs):
                continue
            if not all(isinstance(n, TensorNode) for n in expr.inputs):
                continue
            with call_tracer(None):
                values = expr.interpret(*[n.expr.value for n in expr.inputs])
            index = graph._exprs.index(expr)
            for node in expr.inputs:
                node.users.remove(expr)
            consts = []
            for node, value in zip(expr.outputs, values):
                const = Constant(value, node)
                const.graph = graph
                consts.append(const)
            graph._exprs[index:index + 1] = consts
            changed = True
        if changed:
            graph.compile()
    return changed
