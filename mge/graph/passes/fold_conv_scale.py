"""``fold_conv_scale``: ``conv(x, w) * k`` with a per-channel constant ``k`` folds into ``w``.

Works for ``ConvolutionForward`` and ``ConvBiasForward`` (IDENTITY, constant bias,
which is scaled too) in NCHW, dense or grouped. This is how BatchNorm ends up inside
the convolution weights (MegEngine's ``ParamRedistributePass`` + ``ParamFusePass``).

Example:
    >>> run_passes(graph, ["fold_conv_scale"])   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, OpNode
from . import register_pass
from .util import Users, elemwise_mode, rewrite_all, sole_reader, split_const


def _channel_scale(k: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray | None:
    """``k`` as one factor per output channel (axis 1), or None if it is not per-channel."""
    if k.ndim > len(out_shape):
        return None
    full = (1,) * (len(out_shape) - k.ndim) + k.shape
    if any(d != 1 for i, d in enumerate(full) if i != 1) or full[1] not in (1, out_shape[1]):
        return None
    return np.broadcast_to(k.reshape(-1).astype(np.float64), (out_shape[1],))


def _rewrite(graph: Graph, node: OpNode, users: Users) -> bool:
    split = split_const(node) if elemwise_mode(node) == "MUL" else None
    if split is None:
        return False
    x, k = split
    conv = x.owner
    if conv.type not in ("ConvolutionForward", "ConvBiasForward") or len(conv.inputs) > 3:
        return False
    params = conv.op.params()
    if params["format"] != "NCHW" or params.get("nonlineMode", "IDENTITY") != "IDENTITY":
        return False
    weight = conv.inputs[1]
    bias = conv.inputs[2] if len(conv.inputs) == 3 else None
    if not weight.is_const or (bias is not None and not bias.is_const):
        return False
    if sole_reader(graph, users, x) is not node or node.outputs[0].shape != x.shape:
        return False
    scale = _channel_scale(k, x.shape)
    if scale is None or weight.dtype.kind != "f":
        return False
    w = weight.value.astype(np.float64)
    if params["sparse"] == "GROUP":
        w = w * scale.reshape(w.shape[0], w.shape[1], *(1,) * (w.ndim - 2))
    else:
        w = w * scale.reshape(-1, *(1,) * (w.ndim - 1))
    inputs = [conv.inputs[0], graph.add_const(w.astype(weight.dtype), name=weight.name)]
    if bias is not None:
        b = bias.value.astype(np.float64) * scale.reshape(bias.shape if bias.value.size ==
                                                          scale.size else (1, -1, 1, 1))
        inputs.append(graph.add_const(b.astype(bias.dtype), name=bias.name))
    out = node.outputs[0]
    (new,) = graph.add_op(conv.op, inputs, name=conv.name)
    graph.replace_var(out, new)
    new.name = out.name or x.name
    return True


@register_pass("fold_conv_scale")
def fold_conv_scale(graph: Graph) -> bool:
    """Fold per-channel constant scales of convolution outputs into the weights."""
    return rewrite_all(graph, _rewrite)
