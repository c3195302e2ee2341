"""Graph passes that only plans run: they move work into convolution epilogues.

``conv_epilogue`` (registered with the other passes; plan backends list it):

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

from ..graph.ir import Graph, OpNode
from ..graph.passes import register_pass
from ..graph.passes.fuse_conv_bias import conv_bias_op
from ..graph.passes.util import Users, elemwise_mode, replace_with, rewrite_all, sole_reader
from ..ops.conv import ConvBiasForward

_ADD_NONLINE = {"ADD": "IDENTITY", "FUSE_ADD_RELU": "RELU", "FUSE_ADD_SIGMOID": "SIGMOID",
                "FUSE_ADD_H_SWISH": "H_SWISH"}


def _identity_conv_bias(graph: Graph, users: Users, node: OpNode, k: int) -> OpNode | None:
    conv = node.inputs[k].owner
    if not isinstance(conv.op, ConvBiasForward) or conv.op.nonlineMode != "IDENTITY":
        return None
    if sole_reader(graph, users, conv.outputs[0]) is not node:
        return None
    return conv


def _rewrite(graph: Graph, node: OpNode, users: Users) -> bool:
    mode = elemwise_mode(node)
    if mode in _ADD_NONLINE and len(node.inputs) == 2:
        for k in (0, 1):
            conv, const = _identity_conv_bias(graph, users, node, k), node.inputs[1 - k]
            if conv is None or len(conv.inputs) != 3 or not const.is_const:
                continue
            out = conv.outputs[0]
            residual = conv.inputs[2]
            if residual.shape != out.shape or const.shape != (1, out.shape[1], 1, 1) or \
                    const.dtype != out.dtype or conv.op.params()["format"] != "NCHW":
                continue
            op = conv_bias_op(conv, _ADD_NONLINE[mode])
            replace_with(graph, node.outputs[0], op, [*conv.inputs[:2], const, residual])
            return True
        return False
    if mode == "RELU6":
        conv = _identity_conv_bias(graph, users, node, 0)
        if conv is None or not conv.inputs[1].is_const or conv.op.params()["format"] != "NCHW":
            return False
        replace_with(graph, node.outputs[0],
                     dataclasses.replace(conv.op, nonlineMode="RELU6"), list(conv.inputs))
        return True
    return False


@register_pass("conv_epilogue", requires=("fuse_conv_bias",))
def conv_epilogue(graph: Graph) -> bool:
    """Fuse residual adds with a per-channel bias, and RELU6, into ConvBias (plans only)."""
    return rewrite_all(graph, _rewrite)


__all__ = ["conv_epilogue"]
