"""Const passes: AttrToConstant (module tensors become constants), FixInputShape (shapes
read with ``GetVarShape`` become constants) and FlodConstant (exprs whose inputs are all
constants are computed once: the rewrite engine's constant folding).

MegEngine registers these three but its ``tm.optimize`` never runs them; mge runs the
enabled ones first, in this order.
"""

from __future__ import annotations

from typing import Any

from ...core.opdef import TensorInfo
from ...graph import rewrite as engine
from ...ops.shape import GetVarShape
from ...tensor import Tensor
from ..expr import Apply, GetAttr
from ..node import TensorNode
from .registry import register_pass
from .view import TracedGraphView, all_graphs, attr_value


@register_pass("AttrToConstant")
def attr_to_constant(module: Any) -> bool:
    """Replace ``getattr(self, "w")`` tensor reads by Constant exprs holding a copy."""
    changed = False
    for graph in all_graphs(module):
        view = TracedGraphView(graph)
        for expr in graph.exprs(recursive=False).as_list():
            if isinstance(expr, GetAttr) and isinstance(expr.outputs[0], TensorNode):
                view.set_constants(expr, [Tensor(attr_value(expr.outputs[0]).numpy())])
                changed = True
    return changed


@register_pass("FixInputShape")
def fix_input_shape(module: Any) -> bool:
    """Replace ``GetVarShape`` reads of tensors whose shape was traced by constant shapes
    (int32), as MegEngine's pass of that name does."""
    changed = False
    for graph in all_graphs(module):
        view = TracedGraphView(graph)
        for expr in graph.exprs(recursive=False).as_list():
            if not (isinstance(expr, Apply) and isinstance(expr.opdef, GetVarShape)):
                continue
            (node,) = expr.inputs
            if not isinstance(node, TensorNode) or node.shape is None:
                continue
            (info,) = expr.opdef.infer([TensorInfo(node.shape, node.dtype)])
            view.set_constants(expr, [Tensor(info.value, dtype="int32")])
            changed = True
    return changed


@register_pass("FlodConstant")
def fold_constant(module: Any) -> bool:
    """Evaluate function/method/apply exprs whose inputs are all constants (MegEngine's name)."""
    changed = False
    for graph in all_graphs(module):
        changed |= engine.fold_constants(TracedGraphView(graph))
    return changed
