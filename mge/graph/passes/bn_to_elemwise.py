"""``bn_to_elemwise``: inference BatchNorm with constant statistics becomes ``x * k + b``.

``k = scale / sqrt(var + eps)`` and ``b = bias - mean * k`` are computed once (in
float64, stored in the params' dtype); later passes fold ``k`` into the preceding
convolution and fuse the rest (MegEngine's ``ConvertBatchNormToElemwisePass``).

Example:
    >>> run_passes(graph, ["bn_to_elemwise"])   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ...ops import Elemwise
from ..ir import Graph, OpNode
from . import register_pass
from .util import Users, replace_with, rewrite_all


def _rewrite(graph: Graph, node: OpNode, users: Users) -> bool:
    if node.type != "BatchNormForward" or len(node.inputs) != 5:
        return False
    params = node.op.params()
    x, *stats = node.inputs
    if params["fwd_mode"] != "INFERENCE" or not all(v.is_const for v in stats):
        return False
    if any(users.get(v) or v in graph.outputs for v in node.outputs[:5]):
        return False  # statistics outputs are read: keep the op
    scale, bias, mean, var = (v.value.astype(np.float64) for v in stats)
    k = scale / np.sqrt(var + params["epsilon"])
    b = bias - mean * k
    pshape = stats[0].shape
    if any(d != 1 for d in pshape[x.ndim:]):
        return False
    shape, dtype = pshape[:x.ndim], stats[0].dtype
    if x.dtype != dtype:
        return False
    kvar = graph.add_const(k.reshape(shape).astype(dtype))
    bvar = graph.add_const(b.reshape(shape).astype(dtype))
    (scaled,) = graph.add_op(Elemwise(mode="MUL"), [x, kvar])
    replace_with(graph, node.outputs[5], Elemwise(mode="ADD"), [scaled, bvar])
    return True


@register_pass("bn_to_elemwise")
def bn_to_elemwise(graph: Graph) -> bool:
    """Replace inference-mode BatchNorm by a multiply and an add with constants."""
    return rewrite_all(graph, _rewrite)
