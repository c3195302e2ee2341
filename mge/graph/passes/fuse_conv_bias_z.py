"""``fuse_conv_bias_z``: ``ConvBias(x, w, b) + z`` becomes ``ConvBias(x, w, b, z)``.

For ``ADD`` and ``FUSE_ADD_RELU`` (then with RELU) of an IDENTITY three-input
ConvBias whose output has no other reader, ``b`` per-channel and ``z`` of the output's
shape and dtype (MegEngine's ``FuseConvBiasZPass``).

Example:
    >>> run_passes(graph, ["fuse_conv_bias_z"])   # doctest: +SKIP
"""

from __future__ import annotations

from ...ops.conv import ConvBiasForward
from ..ir import Graph, VarNode
from ..rewrite import Pat, RuleSet, both_orders
from .fuse_conv_bias import conv_bias_op
from .registry import register_pass
from .util import GraphView, elemwise, elemwise_mode, is_op, rewrite


def _fuse_z(view: GraphView, root: VarNode, conv: VarNode, z: VarNode) -> bool:
    node = conv.owner
    if len(node.inputs) != 3 or node.op.nonlineMode != "IDENTITY" or z is conv:
        return False
    if node.inputs[2].shape == conv.shape or z.shape != conv.shape or z.dtype != conv.dtype:
        return False
    nonline = "RELU" if elemwise_mode(root.owner) == "FUSE_ADD_RELU" else "IDENTITY"
    return view.replace_with(root, conv_bias_op(node, nonline), [*node.inputs, z])


RULES = RuleSet(both_orders("ConvBias + z -> ConvBias(z)", Pat(
    elemwise("ADD", "FUSE_ADD_RELU"), inputs=(
        Pat(is_op(ConvBiasForward), name="conv", sole=True), Pat.var("z"))), _fuse_z))


@register_pass("fuse_conv_bias_z", requires=("fuse_conv_bias",))
def fuse_conv_bias_z(graph: Graph) -> bool:
    """Fuse a residual add (and RELU) into the preceding ConvBias."""
    return rewrite(graph, RULES)
