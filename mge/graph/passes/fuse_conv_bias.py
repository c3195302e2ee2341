"""``fuse_conv_bias``: convolution + bias + nonlinearity become one ``ConvBiasForward``.

Patterns (MegEngine's ``FuseConvBiasNonlinPass``), the convolution output having no
other reader:

* ``conv(x, w) + b`` and ``FUSE_ADD_{RELU,SIGMOID,H_SWISH}(conv(x, w), b)`` with ``b``
  per-channel (or a non-constant of the output's shape) -> ``ConvBias(x, w, b)``;
* ``RELU``/``SIGMOID``/``H_SWISH`` of ``conv(x, w)`` -> ``ConvBias(x, w)``;
* ``RELU``/``SIGMOID``/``H_SWISH`` of an IDENTITY ``ConvBias(x, w, b[, z])`` (or RELU of
  a RELU one) -> that ``ConvBias`` with the nonlinearity.

Example:
    >>> run_passes(graph, ["fuse_conv_bias"])   # doctest: +SKIP
"""

from __future__ import annotations

from ...ops.conv import ConvBiasForward, ConvolutionForward
from ..ir import Graph, OpNode, VarNode
from ..rewrite import Pat, Rule, RuleSet, both_orders
from .registry import register_pass
from .util import GraphView, elemwise, elemwise_mode, is_op, rewrite

NONLINE = {"RELU": "RELU", "FUSE_ADD_RELU": "RELU", "SIGMOID": "SIGMOID",
           "FUSE_ADD_SIGMOID": "SIGMOID", "H_SWISH": "H_SWISH", "FUSE_ADD_H_SWISH": "H_SWISH",
           "ADD": "IDENTITY"}
_BIAS_ADDS = ("ADD", "FUSE_ADD_RELU", "FUSE_ADD_SIGMOID", "FUSE_ADD_H_SWISH")
_UNARY = ("RELU", "SIGMOID", "H_SWISH")
_FORMATS = ("NCHW", "NHWC")


def conv_bias_op(conv: OpNode, nonline: str) -> ConvBiasForward:
    """The ConvBias op with ``conv``'s geometry and the given nonlinearity."""
    params = {k: v for k, v in conv.op.params().items() if k != "nonlineMode"}
    return ConvBiasForward(nonlineMode=nonline, **params)


def _bias_ok(conv: OpNode, bias: VarNode) -> bool:
    out = conv.outputs[0]
    if bias.shape == out.shape and not bias.is_const:
        return True
    channels = out.shape[1] if conv.op.format == "NCHW" else out.shape[3]
    want = (1, channels, 1, 1) if conv.op.format == "NCHW" else (1, 1, 1, channels)
    return bias.shape == want and bias.dtype == out.dtype


def _nonline(root: VarNode) -> str:
    return NONLINE[elemwise_mode(root.owner)]


def _add_bias(view: GraphView, root: VarNode, conv: VarNode, bias: VarNode) -> bool:
    node = conv.owner
    if node.op.format not in _FORMATS or not _bias_ok(node, bias):
        return False
    return view.replace_with(root, conv_bias_op(node, _nonline(root)), [*node.inputs, bias])


def _activate_conv(view: GraphView, root: VarNode, conv: VarNode) -> bool:
    node = conv.owner
    if node.op.format not in _FORMATS:
        return False
    return view.replace_with(root, conv_bias_op(node, _nonline(root)), list(node.inputs))


def _activate_conv_bias(view: GraphView, root: VarNode, conv: VarNode) -> bool:
    node, nonline = conv.owner, _nonline(root)
    if len(node.inputs) <= 2 or node.op.format not in _FORMATS or not (
            node.op.nonlineMode == "IDENTITY" or node.op.nonlineMode == nonline == "RELU"):
        return False
    return view.replace_with(root, conv_bias_op(node, nonline), list(node.inputs))


RULES = RuleSet([
    *both_orders("conv + b -> ConvBias", Pat(elemwise(*_BIAS_ADDS), inputs=(
        Pat(is_op(ConvolutionForward), name="conv", sole=True), Pat.var("bias"))), _add_bias),
    Rule("f(conv) -> ConvBias", Pat(elemwise(*_UNARY), inputs=(
        Pat(is_op(ConvolutionForward), name="conv", sole=True),)), _activate_conv),
    Rule("f(ConvBias) -> ConvBias[f]", Pat(elemwise(*_UNARY), inputs=(
        Pat(is_op(ConvBiasForward), name="conv", sole=True),)), _activate_conv_bias),
])


@register_pass("fuse_conv_bias")
def fuse_conv_bias(graph: Graph) -> bool:
    """Fuse convolution, bias add and nonlinearity into ConvBiasForward."""
    return rewrite(graph, RULES)
