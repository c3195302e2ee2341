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

from ...ops.conv import ConvBiasForward
from ..ir import Graph, OpNode, VarNode
from . import register_pass
from .util import Users, elemwise_mode, replace_with, rewrite_all, sole_reader

NONLINE = {"RELU": "RELU", "FUSE_ADD_RELU": "RELU", "SIGMOID": "SIGMOID",
           "FUSE_ADD_SIGMOID": "SIGMOID", "H_SWISH": "H_SWISH", "FUSE_ADD_H_SWISH": "H_SWISH",
           "ADD": "IDENTITY"}
_FORMATS = ("NCHW", "NHWC")


def conv_bias_op(conv: OpNode, nonline: str) -> ConvBiasForward:
    """The ConvBias op with ``conv``'s geometry and the given nonlinearity."""
    params = {k: v for k, v in conv.op.params().items() if k != "nonlineMode"}
    return ConvBiasForward(nonlineMode=nonline, **params)


def _bias_ok(conv: OpNode, bias: VarNode) -> bool:
    out = conv.outputs[0]
    if bias.shape == out.shape and not bias.is_const:
        return True
    channels = out.shape[1] if conv.op.params()["format"] == "NCHW" else out.shape[3]
    want = (1, channels, 1, 1) if conv.op.params()["format"] == "NCHW" else (1, 1, 1, channels)
    return bias.shape == want and bias.dtype == out.dtype


def _rewrite(graph: Graph, node: OpNode, users: Users) -> bool:
    mode = elemwise_mode(node)
    nonline = NONLINE.get(mode or "")
    if nonline is None:
        return False
    out = node.outputs[0]
    if len(node.inputs) == 2 and (mode == "ADD" or mode.startswith("FUSE_ADD")):
        for k in (0, 1):
            conv = node.inputs[k].owner
            bias = node.inputs[1 - k]
            if conv.type == "ConvolutionForward" and conv.op.params()["format"] in _FORMATS \
                    and sole_reader(graph, users, conv.outputs[0]) is node \
                    and _bias_ok(conv, bias):
                replace_with(graph, out, conv_bias_op(conv, nonline), [*conv.inputs, bias])
                return True
        return False
    if len(node.inputs) != 1 or mode == "ADD":
        return False
    conv = node.inputs[0].owner
    if sole_reader(graph, users, conv.outputs[0]) is not node:
        return False
    params = conv.op.params()
    if conv.type == "ConvolutionForward" and params["format"] in _FORMATS:
        replace_with(graph, out, conv_bias_op(conv, nonline), list(conv.inputs))
        return True
    if conv.type == "ConvBiasForward" and len(conv.inputs) > 2 and params["format"] in _FORMATS \
            and (params["nonlineMode"] == "IDENTITY"
                 or params["nonlineMode"] == nonline == "RELU"):
        replace_with(graph, out, conv_bias_op(conv, nonline), list(conv.inputs))
        return True
    return False


@register_pass("fuse_conv_bias")
def fuse_conv_bias(graph: Graph) -> bool:
    """Fuse convolution, bias add and nonlinearity into ConvBiasForward."""
    return rewrite_all(graph, _rewrite)
