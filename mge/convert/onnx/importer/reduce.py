"""ONNX converters for reductions (``Reduce*``, ``ArgMax``/``ArgMin``), on MegEngine's
``Reduce`` modes and elementwise ops (see :mod:`.node`).

``ReduceL1``/``L2``/``SumSquare``/``LogSum``/``LogSumExp`` are the sum mode around
elementwise ops; ``ReduceMax``/``Min`` of booleans reduce 0/1 integers. Axes are
parameters of MegEngine's ``Reduce``: run-time axes are read when the node runs
(:mod:`.deferred`). ``TopK`` sorts each row with ``F.argsort``. ``CumSum`` is MegEngine's
``Cumsum`` on the input reversed along the axis (``reverse``) and shifted by one
(``exclusive``); ``CumProd`` multiplies position by position.

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
    Unsupported,
    converter,
    normalize_axis,
    static_ints,
)

#: the op names this module's strings speak: ONNX's (``converter("TopK")`` converts an ONNX
#: node), not mge's registered op types (``tests/ops/test_op_homes.py`` checks each)
OP_VOCABULARY = "onnx"

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
        if kind in ("ReduceMax", "ReduceMin", "ReduceLogSumExp") and \
                any(x.shape[a] == 0 for a in axis):
            return _empty(x, axis, keep, kind)
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


def _empty(x: Tensor, axis: tuple[int, ...], keep: bool, kind: str) -> Tensor:
    """The reduction of an empty set: ONNX's identity of the max/min (-inf/+inf, False/True,
    the integer extremes) and -inf for LogSumExp."""
    shape = tuple(1 if a in axis else n for a, n in enumerate(x.shape) if keep or a not in axis)
    dtype = np.dtype(x.dtype)
    highest = kind == "ReduceMin"
    if dtype == np.bool_:
        value: Any = highest
    elif dtype.kind == "f":
        value = float("inf") if highest else float("-inf")
    else:
        value = int(np.iinfo(dtype).max if highest else np.iinfo(dtype).min)
    return F.full(shape, value, dtype=dtype)


@converter(*_MODES)
def _reduce(node: Node, ctx: Any) -> Converted:
    axes = static_ints(node, ctx, "axes", 1, f"{node.op_type} axes")
    if not axes and node.attr("noop_with_empty_axes", 0):
        return Identity(), node.inputs[:1], node.outputs[:1]
    op = Reduce(node.op_type, tuple(axes) if axes else None, bool(node.attr("keepdims", 1)))
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class TopK(OnnxOp):
    """ONNX TopK: the ``k`` largest (or smallest) values along ``axis``, sorted, with their
    indices; of equal values the lower index comes first (a stable ``F.argsort`` of the
    rows, the axis moved last; for the largest, MegEngine's descending sort puts equal
    values last index first, so it sorts the reversed rows and maps the indices back)."""

    k: int
    axis: int
    largest: bool

    def __call__(self, mod: Any, x: Tensor) -> tuple[Tensor, Tensor]:
        axis = normalize_axis(self.axis, x.ndim)
        size = x.shape[axis]
        if not 0 <= self.k <= size:
            raise ValueError(f"TopK: k={self.k} is outside [0, {size}] for axis {axis} of "
                             f"shape {x.shape}")
        perm = [a for a in range(x.ndim) if a != axis] + [axis]
        moved = F.transpose(x, perm)
        rows = F.reshape(moved, (-1, size))
        if self.largest:
            index = (size - 1) - F.argsort(rows[:, ::-1], descending=True)[:, :self.k]
        else:
            index = F.argsort(rows)[:, :self.k]
        values = F.gather(rows, 1, index)
        back = tuple(int(p) for p in np.argsort(perm))
        shape = (*moved.shape[:-1], self.k)
        return tuple(F.transpose(F.reshape(t, shape), back) for t in (values, index))


@converter("TopK")
def _top_k(node: Node, ctx: Any) -> Converted:
    if not node.attr("sorted", 1):
        raise Unsupported("TopK with sorted=0 is not supported (mge returns sorted values)")
    k = static_ints(node, ctx, "k", 1, "TopK k")
    op = TopK(int(k[0]), int(node.attr("axis", -1)), bool(node.attr("largest", 1)))
    return op, node.inputs[:1], node.outputs[:2]


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



def _running_product(x: Tensor, axis: int) -> Tensor:
    """Inclusive cumulative product along ``axis``, one multiplication per position."""
    lead = (slice(None),) * axis
    parts = [x[(*lead, slice(0, 1))]]
    for i in range(1, x.shape[axis]):
        parts.append(F.mul(parts[-1], x[(*lead, slice(i, i + 1))]))
    return F.concat(parts, axis=axis) if len(parts) > 1 else parts[0]


@dataclasses.dataclass(frozen=True)
class CumSum(OnnxOp):
    """ONNX CumSum (or, with ``product``, CumProd) along ``axis``: inclusive or
    ``exclusive``, from the end if ``reverse``."""

    axis: int
    exclusive: bool
    reverse: bool
    product: bool = False

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        axis = normalize_axis(self.axis, x.ndim)
        lead = (slice(None),) * axis
        if self.reverse:
            x = x[(*lead, slice(None, None, -1))]
        if self.exclusive:
            shape = list(x.shape)
            shape[axis] = 1
            fill = F.ones if self.product else F.zeros
            x = F.concat([fill(tuple(shape), dtype=x.dtype), x[(*lead, slice(None, -1))]],
                         axis=axis)
        total = _running_product(x, axis) if self.product else F.cumsum(x, axis)
        return total[(*lead, slice(None, None, -1))] if self.reverse else total


@converter("CumSum", "CumProd")
def _cum_sum(node: Node, ctx: Any) -> Converted:
    axis = int(np.asarray(ctx.const(node.input(1), f"{node.op_type} axis")).reshape(()))
    op = CumSum(axis, bool(node.attr("exclusive", 0)), bool(node.attr("reverse", 0)),
                node.op_type == "CumProd")
    return op, node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
