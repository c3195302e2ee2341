"""ONNX converters for reductions (``Reduce*``, ``ArgMax``/``ArgMin``), on MegEngine's
``Reduce`` modes and elementwise ops (see :mod:`.node`).

``ReduceL1``/``L2``/``SumSquare``/``LogSum``/``LogSumExp`` are the sum mode around
elementwise ops; ``ReduceMax``/``Min`` of booleans reduce 0/1 integers. Axes must be
constants (MegEngine's ``Reduce`` takes its axis as a parameter).

Example:
    >>> import mge
    >>> Reduce("ReduceL2", (1,), False)(None, mge.tensor([[3.0, 4.0]])).numpy()
    array([5.], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import (
    Converted,
    Identity,
    Node,
    OnnxOp,
    converter,
    normalize_axis,
    static_ints,
)

_MODES = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
          "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")


@dataclasses.dataclass(frozen=True)
class Reduce(OnnxOp):
    """One ONNX reduction over ``axes`` (None: every axis)."""

    kind: str
    axes: tuple[int, ...] | None
    keepdims: bool

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        axes = range(x.ndim) if self.axes is None else self.axes
        axis = tuple(sorted({normalize_axis(a, x.ndim) for a in axes}))
        kind, keep = self.kind, self.keepdims
        if kind in ("ReduceMax", "ReduceMin"):
            fn = F.max if kind == "ReduceMax" else F.min
            if np.dtype(x.dtype) == np.bool_:
                return F.astype(fn(F.astype(x, "int32"), axis=axis, keepdims=keep), "bool")
            return fn(x, axis=axis, keepdims=keep)
        if kind == "ReduceMean":
            return F.mean(x, axis=axis, keepdims=keep)
        if kind == "ReduceProd":
            return F.prod(x, axis=axis, keepdims=keep)
        if kind == "ReduceLogSumExp":  # max + log(sum(exp(x - max))), stable
            top = F.max(x, axis=axis, keepdims=True)
            top = F.where(F.isinf(top), F.zeros_like(top), top)
            total = F.sum(F.exp(F.sub(x, top)), axis=axis, keepdims=True)
            out = F.add(F.log(total), top)
            return out if keep else F.squeeze(out, axis)
        terms = {"ReduceL1": F.abs, "ReduceL2": F.square, "ReduceSumSquare": F.square}
        total = F.sum(terms[kind](x) if kind in terms else x, axis=axis, keepdims=keep)
        if kind == "ReduceL2":
            return F.sqrt(total)
        return F.log(total) if kind == "ReduceLogSum" else total


@converter(*_MODES)
def _reduce(node: Node, ctx: Any) -> Converted:
    axes = static_ints(node, ctx, "axes", 1, f"{node.op_type} axes")
    if not axes and node.attr("noop_with_empty_axes", 0):
        return Identity(), node.inputs[:1], node.outputs[:1]
    op = Reduce(node.op_type, tuple(axes) if axes else None, bool(node.attr("keepdims", 1)))
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class ArgExtreme(OnnxOp):
    """``F.argmax``/``F.argmin`` along ``axis``; ``last`` picks the last of equal values."""

    fn: str
    axis: int
    keepdims: bool
    last: bool

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        axis = normalize_axis(self.axis, x.ndim)
        fn = F.argmax if self.fn == "max" else F.argmin
        if not self.last:
            return fn(x, axis=axis, keepdims=self.keepdims)
        flipped = x[(slice(None),) * axis + (slice(None, None, -1),)]
        index = fn(flipped, axis=axis, keepdims=self.keepdims)
        return F.sub(F.full_like(index, x.shape[axis] - 1), index)


@converter("ArgMax", "ArgMin")
def _arg_extreme(node: Node, ctx: Any) -> Converted:
    op = ArgExtreme("max" if node.op_type == "ArgMax" else "min", int(node.attr("axis", 0)),
                    bool(node.attr("keepdims", 1)), bool(node.attr("select_last_index", 0)))
    return op, node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
