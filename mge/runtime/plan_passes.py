"""Graph passes that only plans run: they move work into convolution epilogues.

``conv_epilogue`` (registered with the other passes; plan backends list it; its first
rule alone is ``conv_residual``, which the ONNX plans run):

* ``ADD``/``FUSE_ADD_{RELU,SIGMOID,H_SWISH}`` of a per-channel constant ``k`` and an
  IDENTITY ``ConvBias(x, w, r)`` whose bias ``r`` has the output's full shape (how
  MegEngine fuses a residual) becomes ``ConvBias(x, w, k, z=r)`` with the nonlinearity:
  one convolution with bias, residual and activation;
* ``RELU6`` of an IDENTITY ``ConvBias`` (constant NCHW filter) becomes a ``ConvBias``
  with ``nonlineMode="RELU6"``, a mode that exists in memory only (MegEngine's
  ``ConvBias`` has none; the ``.mge`` writer refuses it, every kernel runs it).

Example:
    >>> run_passes(graph, ["conv_epilogue"])   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses

from ..graph.ir import Graph, VarNode
from ..graph.passes.fuse_conv_bias import conv_bias_op
from ..graph.passes.registry import register_pass
from ..graph.passes.util import GraphView, elemwise, elemwise_mode, is_op, rewrite
from ..graph.rewrite import Pat, Rule, RuleSet, both_orders
from ..ops.conv import ConvBiasForward

_ADD_NONLINE = {"ADD": "IDENTITY", "FUSE_ADD_RELU": "RELU", "FUSE_ADD_SIGMOID": "SIGMOID",
                "FUSE_ADD_H_SWISH": "H_SWISH"}


def _identity_conv_bias(name: str) -> Pat:
    """An IDENTITY ConvBias output read only by the op one level up."""
    return Pat(lambda node: is_op(ConvBiasForward)(node) and node.op.nonlineMode == "IDENTITY",
               name=name, sole=True)


def _residual_epilogue(view: GraphView, root: VarNode, conv: VarNode, k: VarNode) -> bool:
    node = conv.owner
    if len(node.inputs) != 3:
        return False
    residual = node.inputs[2]
    if residual.shape != conv.shape or k.shape != (1, conv.shape[1], 1, 1) or \
            k.dtype != conv.dtype or node.op.format != "NCHW":
        return False
    op = conv_bias_op(node, _ADD_NONLINE[elemwise_mode(root.owner)])
    return view.replace_with(root, op, [*node.inputs[:2], k, residual])


def _relu6_epilogue(view: GraphView, root: VarNode, conv: VarNode) -> bool:
    node = conv.owner
    if not node.inputs[1].is_const or node.op.format != "NCHW":
        return False
    return view.replace_with(root, dataclasses.replace(node.op, nonlineMode="RELU6"),
                             list(node.inputs))


RESIDUAL_RULES = RuleSet(both_orders(
    "ConvBias(x, w, r) + k -> ConvBias(x, w, k, z=r)", Pat(
        elemwise(*_ADD_NONLINE), inputs=(_identity_conv_bias("conv"), Pat.cvar("k"))),
    _residual_epilogue))
RULES = RESIDUAL_RULES + RuleSet([
    Rule("RELU6(ConvBias) -> ConvBias[RELU6]", Pat(elemwise("RELU6"), inputs=(
        _identity_conv_bias("conv"),)), _relu6_epilogue),
])


@register_pass("conv_epilogue", requires=("fuse_conv_bias",))
def conv_epilogue(graph: Graph) -> bool:
    """Fuse residual adds with a per-channel bias, and RELU6, into ConvBias (plans only)."""
    return rewrite(graph, RULES)


@register_pass("conv_residual", requires=("fuse_conv_bias",))
def conv_residual(graph: Graph) -> bool:
    """Only the residual half of ``conv_epilogue``, for the ONNX plans (their engines
    fuse ``Conv`` + ``Clip`` themselves), in one sweep over the ops: a rewrite touches
    only its add and its convolution and makes no new match (the new ConvBias has four
    inputs), so the readers found before the sweep stay right for the other matches,
    and nothing is left for a second sweep (the rewrite engine's restart after each
    rewrite cost ~8 ms on MobileNetV2); the view's index rewires only the replaced
    add's readers."""
    view = GraphView(graph)
    changed = False
    for op in graph.ops():
        changed |= RESIDUAL_RULES.rewrite(view, op)
    return changed


__all__ = ["conv_epilogue", "conv_residual"]
