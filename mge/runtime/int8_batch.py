"""A free batch size in the int8 ONNX lowerings (:mod:`.int8_qdq`): ``Reshape`` targets
and the graph's edge types.

The lowerings write static shapes. For a ``dynamic_batch`` export the caller gives the
lowering each var's batch dim (``(axis, mult)``, :mod:`mge.ops.batching`, found by the
ops' batch rules): a ``Reshape`` target then holds ``-1`` on the batch axis (one axis at
most carries the batch, so ONNX infers it from the data), and a graph input or output
has the symbolic dim :data:`~mge.ops.batching.BATCH_DIM_NAME` there, as the float
exporter writes it. Without batch dims (the plans, which compile per shape) both are
the static shapes.

Example:
    >>> low.node("Reshape", [x, reshape_target(low, y)], out)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..graph.ir import VarNode
from ..ops.batching import BATCH_DIM_NAME


def batch_axis(low: Any, var: VarNode) -> int | None:
    """The axis of ``var`` that carries the (dynamic) batch, if any."""
    dim = low.batch.get(var.id)
    return None if dim is None else dim[0]


def reshape_target(low: Any, var: VarNode, dims: Sequence[int] | None = None) -> str:
    """An int64 constant: ``var``'s shape (or ``dims``, which keep ``var``'s leading axes)
    as a ``Reshape`` target, ``-1`` on ``var``'s batch axis.

    Raises:
        ValueError: ``dims`` drops the batch axis (a lowering bug).
    """
    target = np.array(var.shape if dims is None else dims, np.int64)
    axis = batch_axis(low, var)
    if axis is not None:
        if axis >= target.size:
            raise ValueError(f"a Reshape target {list(target)} drops the batch axis {axis} "
                             f"of {var!r}")
        target[axis] = -1
    return low.const(target, "shape")


def edge_dims(low: Any, var: VarNode) -> list[int | str]:
    """The dims of a graph input or output: its shape, symbolic on its batch axis."""
    dims: list[int | str] = list(var.shape)
    axis = batch_axis(low, var)
    if axis is not None:
        dims[axis] = BATCH_DIM_NAME
    return dims


__all__ = ["batch_axis", "edge_dims", "reshape_target"]
