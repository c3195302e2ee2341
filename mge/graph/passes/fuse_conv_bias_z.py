"""``fuse_conv_bias_z``: ``ConvBias(x, w, b) + z`` becomes ``ConvBias(x, w, b, z)``.

For ``ADD`` and ``FUSE_ADD_RELU`` (then with RELU) of an IDENTITY three-input
ConvBias whose output has no other reader, ``b`` per-channel and ``z`` of the output's
shape and dtype (MegEngine's ``FuseConvBiasZPass``).

Example:
    >>> run_passes(graph, ["fuse_conv_bias_z"])   # doctest: +SKIP
"""

from __future__ import annotations

from ..ir import Graph, OpNode
from . import register_pass
from .fuse_conv_bias import conv_bias_op
from .util import Users, elemwise_mode, replace_with, rewrite_all, sole_reader


def _rewrite(graph: Graph, node: OpNode, users: Users) -> bool:
    mode = elemwise_mode(node)
    if mode not in ("ADD", "FUSE_ADD_RELU") or len(node.inputs) != 2:
        return False
    for k in (0, 1):
        conv, z = node.inputs[k].owner, node.inputs[1 - k]
        out = conv.outputs[0] if conv.outputs else None
        if conv.type != "ConvBiasForward" or len(conv.inputs) != 3 or out is None:
            continue
        if conv.op.params()["nonlineMode"] != "IDENTITY" or z is out:
            continue
        if sole_reader(graph, users, out) is not node or conv.inputs[2].shape == out.shape:
            continue
        if z.shape != out.shape or z.dtype != out.dtype:
            continue
        nonline = "RELU" if mode == "FUSE_ADD_RELU" else "IDENTITY"
        replace_with(graph, node.outputs[0], conv_bias_op(conv, nonline), [*conv.inputs, z])
        return True
    return False


@register_pass("fuse_conv_bias_z", requires=("fuse_conv_bias",))
def fuse_conv_bias_z(graph: Graph) -> bool:
    """Fuse a residual add (and RELU) into the preceding ConvBias."""
    return rewrite_all(graph, _rewrite)
