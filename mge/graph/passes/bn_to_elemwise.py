"""``bn_to_elemwise``: inference BatchNorm with constant statistics becomes ``x * k + b``.

``k = scale / sqrt(var + eps)`` and ``b = bias - mean * k`` are computed once (in
float64, stored in the params' dtype; :func:`mge.graph.folding.bn_scale_shift`); later
passes fold ``k`` into the preceding convolution and fuse the rest (MegEngine's
``ConvertBatchNormToElemwisePass``).

Example:
    >>> run_passes(graph, ["bn_to_elemwise"])   # doctest: +SKIP
"""

from __future__ import annotations

from ...ops import Elemwise
from ...ops.nn import BatchNormForward
from ..folding import bn_scale_shift
from ..ir import Graph, VarNode
from ..rewrite import Pat, Rule, RuleSet
from .registry import register_pass
from .util import GraphView, is_op, rewrite


def _to_elemwise(view: GraphView, root: VarNode, x: VarNode, scale: VarNode, bias: VarNode,
                 mean: VarNode, var: VarNode) -> bool:
    node = root.owner
    if node.op.fwd_mode != "INFERENCE":
        return False
    if any(view.readers(v) or v in view.graph.outputs for v in node.outputs[:5]):
        return False  # statistics outputs are read: keep the op
    pshape = scale.shape
    if any(d != 1 for d in pshape[x.ndim:]) or x.dtype != scale.dtype:
        return False
    k, b = bn_scale_shift(mean.value, var.value, node.op.epsilon, scale.value, bias.value)
    shape, dtype = pshape[:x.ndim], scale.dtype
    scaled = view.add(Elemwise(mode="MUL"), [x, view.const(k.reshape(shape), dtype)])
    return view.replace_with(node.outputs[5], Elemwise(mode="ADD"),
                             [scaled, view.const(b.reshape(shape), dtype)])


RULES = RuleSet([
    Rule("inference BatchNorm -> x * k + b", Pat(is_op(BatchNormForward), inputs=(
        Pat.var("x"), Pat.cvar("scale"), Pat.cvar("bias"), Pat.cvar("mean"),
        Pat.cvar("var"))), _to_elemwise),
])


@register_pass("bn_to_elemwise")
def bn_to_elemwise(graph: Graph) -> bool:
    """Replace inference-mode BatchNorm by a multiply and an add with constants."""
    return rewrite(graph, RULES)
