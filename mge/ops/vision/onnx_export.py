"""ONNX export rules of ``WarpPerspectiveForward`` and ``ResizeForward``, and their
dynamic-batch rules.

The numpy kernels of this family are written against a small array interface
(:class:`~mge.ops.vision.numpy_kernels.ArrayOps`); :class:`OnnxOps` implements it on the
exporter's values, so the very same algorithms (both of MegEngine's kernel families,
every border mode, fixed-point uint8 arithmetic) are written out as ONNX
``Gather``/``GatherND`` and elementwise nodes. The exported ops compute what mge
computes, not an approximation through ONNX's ``GridSample``/``Resize``.

Example:
    >>> WarpPerspectiveForward.onnx_rule                         # doctest: +SKIP
    <function _warp ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..batching import BatchDim, Blocked, data_inputs
from ..registry import batch_rule, onnx_rule
from . import ResizeForward, WarpPerspectiveForward
from .numpy_kernels import ArrayOps, resize, warp_perspective

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode


class OnnxOps(ArrayOps):
    """The vision kernels' array primitives, emitting ONNX nodes."""

    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx

    def cast(self, x: Any, dtype: Any) -> Any:
        return x.cast(dtype) if self.ctx.is_sym(x) else np.asarray(x).astype(dtype)

    def from_numpy(self, value: np.ndarray, like: Any) -> Any:
        return self.ctx.const(value)

    def arange(self, n: int, dtype: Any, like: Any) -> Any:
        value = np.arange(n, dtype=dtype)
        if self.ctx.is_sym(like) and like.ndim and like.shape[0] == n:
            return self.ctx.batch_range(value)
        return self.ctx.const(value)

    def floor(self, x: Any) -> Any:
        return x.floor()

    def rint(self, x: Any) -> Any:
        return x.op("Round")

    def where(self, cond: Any, x: Any, y: Any) -> Any:
        return cond.select(x, y)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return x.clip(lo, hi)

    def isfinite(self, x: Any) -> Any:
        return x.isfinite()

    def isnan(self, x: Any) -> Any:
        return x.isnan()

    def permute(self, x: Any, axes: tuple[int, ...]) -> Any:
        return x.transpose(axes)

    def contiguous(self, x: Any) -> Any:
        return x

    def dtype_of(self, x: Any) -> np.dtype:
        return x.dtype

    def maximum(self, x: Any, y: Any) -> Any:
        return x.maximum(y)

    def minimum(self, x: Any, y: Any) -> Any:
        return x.minimum(y)

    def abs(self, x: Any) -> Any:
        return x.unary("Abs")

    def ceil(self, x: Any) -> Any:
        return x.op("Ceil")

    def amax(self, x: Any, axis: int) -> Any:
        return self.ctx.reduce("ReduceMax", x, [axis], keepdims=False)

    def sum(self, x: Any, axis: int) -> Any:
        return self.ctx.reduce("ReduceSum", x, [axis], keepdims=False)

    def argmax(self, x: Any, axis: int) -> Any:
        shape = [d for k, d in enumerate(x.shape) if k != axis % x.ndim]
        return x.op("ArgMax", shape=shape, dtype=np.int64, axis=axis, keepdims=0)

    def take_along(self, x: Any, idx: Any, axis: int) -> Any:
        return x.op("GatherElements", idx.cast(np.int64), shape=idx.shape, axis=axis)

    def stack(self, xs: list[Any], axis: int) -> Any:
        return self.ctx.concat([x.unsqueeze([axis]) for x in xs], axis)

    def concat(self, xs: list[Any], axis: int) -> Any:
        return self.ctx.concat(xs, axis)

    def repeat(self, x: Any, n: int, axis: int) -> Any:
        axis %= x.ndim
        wide = x.unsqueeze([axis + 1])
        shape = list(wide.shape)
        shape[axis + 1] = n
        out = list(x.shape)
        out[axis] *= n
        return wide.expand(shape).reshape(out)

    def zeros(self, shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
        return self.ctx.filled(shape, 0, dtype)

    def scalar(self, value: float, dtype: Any, like: Any) -> Any:
        return self.ctx.const(np.array(value, dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        raise NotImplementedError("a data-dependent host step has no ONNX form")

    def pad_center(self, x: Any, margin: int) -> Any:
        shape = (*x.shape[:2], x.shape[2] + 2 * margin, x.shape[3] + 2 * margin)
        return x.op("Pad", self.ctx.ints([0, 0, margin, margin, 0, 0, margin, margin]),
                    shape=shape)

    def checked_index(self, idx: Any, n: int, what: str) -> Any:
        """ONNX cannot raise: an index outside ``[0, n)`` becomes ``n``, which ``Gather``
        rejects at run time (a negative one would silently count from the end)."""
        return ((idx < 0) | (idx >= n)).select(n, idx)


@onnx_rule(WarpPerspectiveForward)
def _warp(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    if len(xs) == 3:
        ctx.static_only(node, "WarpPerspective's mat_idx")
    return [warp_perspective(OnnxOps(ctx), node.op, *xs)]


@onnx_rule(ResizeForward)
def _resize(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [resize(OnnxOps(ctx), node.op, xs[0])]


# ---------------------------------------------------------------------- batch rules
@batch_rule(WarpPerspectiveForward)
def _warp_batch(node: OpNode, dims: list[BatchDim | None]) -> list[BatchDim | None]:
    if len(dims) == 2 and (dims[0] != (0, 1) or dims[1] != (0, 1)):
        raise Blocked("src and mat must both carry the batch (one matrix per image)")
    if dims[1] != (0, 1):
        raise Blocked("mat must carry the batch")
    return [(0, 1)]


batch_rule(ResizeForward)(data_inputs(0))

__all__ = ["OnnxOps"]
