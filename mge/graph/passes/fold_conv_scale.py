"""``fold_conv_scale``: ``conv(x, w) * k`` with a per-channel constant ``k`` folds into ``w``.

Works for ``ConvolutionForward`` and ``ConvBiasForward`` (IDENTITY, constant bias,
which is scaled too) in NCHW, dense or grouped. This is how BatchNorm ends up inside
the convolution weights (MegEngine's ``ParamRedistributePass`` + ``ParamFusePass``);
the arithmetic is :mod:`mge.graph.folding`'s, shared with ``tm.optimize``.

Example:
    >>> run_passes(graph, ["fold_conv_scale"])   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ...ops.conv import ConvBiasForward, ConvolutionForward
from ..folding import channel_scale, scale_conv_weight
from ..ir import Graph, VarNode
from ..rewrite import Pat, RuleSet, both_orders
from .registry import register_pass
from .util import GraphView, elemwise, is_op, rewrite


def _fold(view: GraphView, root: VarNode, x: VarNode, k: VarNode) -> bool:
    conv = x.owner
    if len(conv.inputs) > 3:
        return False
    op = conv.op
    if op.format != "NCHW" or getattr(op, "nonlineMode", "IDENTITY") != "IDENTITY":
        return False
    weight = conv.inputs[1]
    bias = conv.inputs[2] if len(conv.inputs) == 3 else None
    if not weight.is_const or (bias is not None and not bias.is_const):
        return False
    if root.shape != x.shape:
        return False
    scale = channel_scale(k.value, x.shape)
    if scale is None or weight.dtype.kind != "f":
        return False
    inputs = [conv.inputs[0], view.const(scale_conv_weight(weight.value, scale), weight.dtype,
                                         name=weight.name)]
    if bias is not None:
        b = bias.value.astype(np.float64) * scale.reshape(bias.shape if bias.value.size ==
                                                          scale.size else (1, -1, 1, 1))
        inputs.append(view.const(b, bias.dtype, name=bias.name))
    new = view.add(op, inputs, name=conv.name)
    name = root.name or x.name
    view.replace(root, new)
    new.name = name
    return True


RULES = RuleSet(both_orders("conv(x, w) * k -> conv(x, w * k)", Pat(elemwise("MUL"), inputs=(
    Pat(is_op(ConvolutionForward, ConvBiasForward), name="x", sole=True), Pat.cvar("k"))),
    _fold))


@register_pass("fold_conv_scale")
def fold_conv_scale(graph: Graph) -> bool:
    """Fold per-channel constant scales of convolution outputs into the weights."""
    return rewrite(graph, RULES)
