"""``dynamic_batch``: which axis of each var carries the batch of the graph inputs.

mge graphs have static shapes. To export a graph whose batch size is free, every var
gets a *batch dim* ``(axis, mult)``: its size along ``axis`` is ``batch * mult`` and
every other size is fixed. Graph inputs start with ``(0, 1)``; each op's
``batch_rule`` (beside it in its family home, see :mod:`mge.ops.batching`) carries the
dims forward. Ops whose batch dim cannot be followed are *blocked* with a reason, which
the exporter reports as a problem.

Where one graph admits several readings (a batch of 1 reshaped ``(1, C) -> (1, C, 1)``)
the outermost dim is taken, as models lay batches out; trace with a batch of 2 or more
to make that unambiguous.

Example:
    >>> axes, blocked = batch_axes(graph, graph.ops(), {})   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ....graph.ir import ConstOp, Graph, Host2DeviceCopy, OpNode
from ....ops.batching import BatchDim, Blocked


def batch_axes(graph: Graph, order: Sequence[OpNode], consts: Mapping[int, np.ndarray]
               ) -> tuple[dict[int, BatchDim | None], dict[int, str]]:
    """The batch dim of every var (``None``: no batch) and the blocked ops (id -> reason)."""
    dims: dict[int, BatchDim | None] = {v.id: (0, 1) for v in graph.inputs if v.ndim}
    batches = {v.shape[0] for v in graph.inputs if v.ndim}
    if len(batches) > 1:
        raise ValueError(f"dynamic_batch: the graph inputs have different batch sizes "
                         f"{sorted(batches)}")
    blocked: dict[int, str] = {}
    for node in order:
        if isinstance(node.op, (Host2DeviceCopy, ConstOp)) or node.outputs[0].id in consts:
            continue
        ins = [dims.get(v.id) for v in node.inputs]
        outs: list[BatchDim | None] = [None] * len(node.outputs)
        if any(d is not None for d in ins):
            rule = type(node.op).batch_rule
            try:
                if rule is None:
                    raise Blocked(f"mge does not know how {node.type} carries the batch")
                outs = rule(node, ins)
            except Blocked as exc:
                blocked[node.id] = str(exc)
        for var, dim in zip(node.outputs, outs, strict=True):
            dims[var.id] = dim
    return dims, blocked


__all__ = ["BatchDim", "Blocked", "batch_axes"]
