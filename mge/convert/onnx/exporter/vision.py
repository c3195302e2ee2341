"""ONNX converters for ``WarpPerspectiveForward`` and ``ResizeForward``.

The numpy backend's vision kernels are written against a small array interface
(:class:`~mge.backends.numpy.vision.ArrayOps`); :class:`OnnxOps` implements it on
:class:`~mge.convert.onnx.exporter.sym.Sym` values, so the very same algorithms (both of
MegEngine's kernel families, every border mode, fixed-point uint8 arithmetic) are
written out as ONNX ``Gather``/``GatherND`` and elementwise nodes. The exported ops
compute what mge computes, not an approximation through ONNX's ``GridSample``/``Resize``.

Example:
    >>> EXPORTERS["WarpPerspectiveForward"]                    # doctest: +SKIP
    <function _warp ...>
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ....backends.numpy.vision import ArrayOps, resize, warp_perspective
from ....graph.ir import OpNode
from .graph import ExportContext, exporter
from .sym import OnnxBuilder, Sym
from .sym import clip as sym_clip
from .sym import floor as sym_floor
from .sym import isfinite as sym_isfinite
from .sym import isnan as sym_isnan
from .sym import where as sym_where


class BatchRange(Sym):
    """``arange(N)`` over the batch of a tensor, used as an index: ``x[r, i, j]`` becomes a
    ``GatherND`` with ``batch_dims=1``, so the batch size is not baked into the graph. Its
    values are written only if some node reads them."""

    batch_range = True

    @classmethod
    def make(cls, builder: OnnxBuilder, value: np.ndarray) -> BatchRange:
        sym = builder.lazy_const(value, "batch_range")
        sym.__class__ = cls
        return sym  # type: ignore[return-value]

    def __getitem__(self, key: Any) -> Sym:
        if self.pending is None:
            return super().__getitem__(key)
        return BatchRange.make(self.builder, self.pending[key])


class OnnxOps(ArrayOps):
    """The vision kernels' array primitives, emitting ONNX nodes."""

    def __init__(self, builder: OnnxBuilder) -> None:
        self.builder = builder

    def cast(self, x: Any, dtype: Any) -> Any:
        return x.cast(dtype) if isinstance(x, Sym) else np.asarray(x).astype(dtype)

    def from_numpy(self, value: np.ndarray, like: Any) -> Any:
        return self.builder.const(value)

    def arange(self, n: int, dtype: Any, like: Any) -> Any:
        value = np.arange(n, dtype=dtype)
        if isinstance(like, Sym) and like.ndim and like.shape[0] == n:
            return BatchRange.make(self.builder, value)
        return self.builder.const(value)

    def floor(self, x: Any) -> Any:
        return sym_floor(x)

    def rint(self, x: Any) -> Any:
        return x.op("Round")

    def where(self, cond: Any, x: Any, y: Any) -> Any:
        return sym_where(cond, x, y)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return sym_clip(x, lo, hi)

    def isfinite(self, x: Any) -> Any:
        return sym_isfinite(x)

    def isnan(self, x: Any) -> Any:
        return sym_isnan(x)

    def permute(self, x: Any, axes: tuple[int, ...]) -> Any:
        return x.transpose(axes)

    def contiguous(self, x: Any) -> Any:
        return x

    def dtype_of(self, x: Any) -> np.dtype:
        return x.dtype

    def check_index(self, idx: Any, n_src: int) -> None:
        """Run-time index checks have no ONNX form: ``Gather`` rejects bad indices."""


@exporter("WarpPerspectiveForward")
def _warp(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    if len(xs) == 3:
        ctx.static_only(node, "WarpPerspective's mat_idx")
    return [warp_perspective(OnnxOps(ctx), node.op, *xs)]


@exporter("ResizeForward")
def _resize(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [resize(OnnxOps(ctx), node.op, xs[0])]


__all__ = ["BatchRange", "OnnxOps"]
