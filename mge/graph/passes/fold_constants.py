"""``fold_constants``: ops whose inputs are all constants become constants.

The numpy backend computes them once (MegEngine's ``ParamFusePass``). Every folded
output becomes its own constant: distinct constants are never merged, even when
equal (MegEngine 1.13 merges them and miscompiles ``clip``).

Example:
    >>> run_passes(graph, ["fold_constants"])   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ...backends import get_backend
from ...core.apply import run_op
from ..ir import ConstOp, Graph, Host2DeviceCopy
from . import register_pass

#: outputs larger than this many elements (and than their inputs) are left unfolded
MAX_GROWTH = 1 << 16


@register_pass("fold_constants")
def fold_constants(graph: Graph) -> bool:
    """Evaluate constant-only ops and replace their outputs by constants."""
    numpy_backend = get_backend("numpy")
    changed = False
    for node in graph.ops():
        if isinstance(node.op, (ConstOp, Host2DeviceCopy)) or not node.inputs:
            continue
        if not all(v.is_const for v in node.inputs):
            continue
        size_in = sum(v.value.size for v in node.inputs)
        if any(int(np.prod(v.shape)) > max(size_in, MAX_GROWTH) for v in node.outputs):
            continue
        result = run_op(node.op, *[v.value for v in node.inputs], backend=numpy_backend)
        values = result if len(node.outputs) > 1 else (result,)
        for var, value in zip(node.outputs, values, strict=True):
            const = graph.add_const(np.asarray(value).astype(var.dtype).reshape(var.shape),
                                    name=var.name)
            graph.replace_var(var, const)
        changed = True
    return changed
