"""ONNX converters for coordinate indexing: ``GatherND``, ``ScatterND``,
``ScatterElements`` (and the deprecated ``Scatter``), ``TensorScatter`` (a KV-cache
write) and ``Col2Im`` (blocks summed back into an image), on MegEngine's vector indexing
(see :mod:`.node`).

Each op addresses rows of the data seen as a 2-d ``[rows, rest...]`` tensor by a linear
row index computed from the coordinates (negative coordinates count from the end).
Plain scatters assign (``x[rows] = updates``, the last of duplicate coordinates wins, as in
ONNX's reference); ``add``/``mul``/``max``/``min`` reductions combine every update of a
row through a ``[updates, rows]`` match mask, so duplicates accumulate.

Example:
    >>> import mge
    >>> op = ScatterElements(0, "add")
    >>> op(None, mge.tensor([1.0, 2.0]), mge.tensor([1, 1]), mge.tensor([3.0, 4.0])).numpy()
    array([1., 9.], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter, normalize_axis

_REDUCTIONS = ("none", "add", "mul", "max", "min")


def _coordinate(index: Tensor, size: int) -> Tensor:
    """``index`` (int32) with negative values counted from the end of a ``size`` axis."""
    index = F.astype(index, "int32")
    return F.where(F.less(index, F.zeros_like(index)), F.add(index, size), index)


def _linear(coords: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Row-major linear index of the coordinates on the last axis of ``coords``."""
    strides = [math.prod(dims[j + 1:]) for j in range(len(dims))]
    total = None
    for j, (dim, stride) in enumerate(zip(dims, strides)):
        term = F.mul(_coordinate(coords[..., j], dim), stride)
        total = term if total is None else F.add(total, term)
    return total


def _lowest(dtype: np.dtype, highest: bool) -> float | int:
    if dtype.kind == "f":
        return float("inf") if highest else float("-inf")
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.iinfo(np.int32)
    return int(info.max if highest else info.min)


def scatter_rows(data: Tensor, rows: Tensor, updates: Tensor, reduction: str) -> Tensor:
    """``data`` ``[R, rest...]`` with rows ``rows`` ``[n]`` combined with ``updates``
    ``[n, rest...]`` by ``reduction``."""
    if reduction == "none":
        out = F.copy(data)
        out[rows] = updates
        return out
    n, nrows, rest = rows.shape[0], data.shape[0], tuple(data.shape[1:])
    shape, dtype = (n, nrows, *rest), np.dtype(data.dtype)
    lanes = F.reshape(F.arange(nrows, dtype="int32"), (1, nrows))
    match = F.equal(F.reshape(rows, (n, 1)), lanes)  # [n, R]: update i goes to row r
    wide = F.broadcast_to(F.reshape(match, (n, nrows) + (1,) * len(rest)), shape)
    spread = F.broadcast_to(F.expand_dims(updates, 1), shape)
    if reduction in ("add", "mul"):
        neutral = F.zeros(shape, dtype=dtype) if reduction == "add" else F.ones(shape, dtype=dtype)
        picked = F.where(wide, spread, neutral)
        if reduction == "add":
            return F.add(data, F.sum(picked, axis=0))
        return F.mul(data, F.prod(picked, axis=0))
    fill = F.full(shape, _lowest(dtype, reduction == "min"), dtype=dtype)
    picked = F.where(wide, spread, fill)
    best = F.max(picked, axis=0) if reduction == "max" else F.min(picked, axis=0)
    combined = F.maximum(data, best) if reduction == "max" else F.minimum(data, best)
    hit = F.greater(F.sum(F.astype(match, "int32"), axis=0), F.zeros((nrows,), dtype="int32"))
    return F.where(F.broadcast_to(F.reshape(hit, (nrows,) + (1,) * len(rest)), data.shape),
                   combined, data)


@dataclasses.dataclass(frozen=True)
class ScatterElements(OnnxOp):
    """ONNX ScatterElements: ``out[..., index[p], ...] (op)= updates[p]`` along ``axis``."""

    axis: int
    reduction: str

    def __call__(self, mod: Any, data: Tensor, index: Tensor, updates: Tensor) -> Tensor:
        shape = tuple(data.shape)
        axis = normalize_axis(self.axis, len(shape))
        grid = np.indices(tuple(index.shape), dtype=np.int32)
        strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
        base = sum(grid[d] * strides[d] for d in range(len(shape)) if d != axis)
        rows = F.add(F.mul(_coordinate(index, shape[axis]), strides[axis]),
                     Tensor(np.asarray(base, dtype=np.int32)))
        flat = scatter_rows(F.reshape(data, (-1,)), F.reshape(rows, (-1,)),
                            F.reshape(updates, (-1,)), self.reduction)
        return F.reshape(flat, shape)


@dataclasses.dataclass(frozen=True)
class ScatterND(OnnxOp):
    """ONNX ScatterND: ``out[index[i]] (op)= updates[i]`` for the coordinate tuples on the
    last axis of ``index`` (each addressing a slice of the leading axes)."""

    reduction: str

    def __call__(self, mod: Any, data: Tensor, index: Tensor, updates: Tensor) -> Tensor:
        shape = tuple(data.shape)
        k = index.shape[-1]
        rows = F.reshape(_linear(index, shape[:k]), (-1,))
        table = F.reshape(data, (-1, *shape[k:]))
        flat_updates = F.reshape(updates, (-1, *shape[k:]))
        return F.reshape(scatter_rows(table, rows, flat_updates, self.reduction), shape)


@dataclasses.dataclass(frozen=True)
class GatherND(OnnxOp):
    """ONNX GatherND: the slices of ``data`` at the coordinate tuples on the last axis of
    ``index``, the first ``batch_dims`` axes shared by both."""

    batch_dims: int

    def __call__(self, mod: Any, data: Tensor, index: Tensor) -> Tensor:
        shape, b = tuple(data.shape), self.batch_dims
        k = index.shape[-1]
        lead = tuple(index.shape[:-1])
        rows = _linear(index, shape[b:b + k])
        if b:
            batches = math.prod(shape[:b])
            offsets = np.arange(batches, dtype=np.int32).reshape(
                shape[:b] + (1,) * (len(lead) - b)) * math.prod(shape[b:b + k])
            rows = F.add(rows, Tensor(offsets))
        table = F.reshape(data, (-1, *shape[b + k:]))
        picked = table[F.reshape(rows, (-1,))]
        return F.reshape(picked, lead + shape[b + k:])


@dataclasses.dataclass(frozen=True)
class TensorScatter(OnnxOp):
    """ONNX TensorScatter: ``update`` written into ``cache`` along ``axis`` from each batch
    entry's write index (0 without ``write_indices``; modulo the axis when circular)."""

    axis: int
    circular: bool

    def __call__(self, mod: Any, cache: Tensor, update: Tensor,
                 starts: Tensor | None = None) -> Tensor:
        axis = normalize_axis(self.axis, cache.ndim)
        shape = [1] * update.ndim
        shape[axis] = update.shape[axis]
        steps = np.arange(update.shape[axis], dtype=np.int32).reshape(shape)
        index = Tensor(steps)
        if starts is not None:
            lead = (update.shape[0],) + (1,) * (update.ndim - 1)
            index = F.add(index, F.reshape(F.astype(starts, "int32"), lead))
        if self.circular:
            index = F.mod(index, F.full_like(index, cache.shape[axis]))
        index = F.broadcast_to(index, tuple(update.shape))
        return ScatterElements(axis, "none")(mod, cache, index, update)


@converter("TensorScatter")
def _tensor_scatter(node: Node, ctx: Any) -> Converted:
    mode = node.attr("mode", "linear")
    if mode not in ("linear", "circular"):
        raise Unsupported(f"TensorScatter mode {mode!r}")
    op = TensorScatter(int(node.attr("axis", -2)), mode == "circular")
    return op, [i for i in node.inputs if i], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Col2Im(OnnxOp):
    """ONNX Col2Im: ``[N, C * prod(block), L]`` columns summed into ``[N, C, *image]``;
    per block offset the (constant) target pixels of its valid columns are distinct, so
    each offset is one row assignment and the offsets are added."""

    image: tuple[int, ...]
    block: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[int, ...]
    strides: tuple[int, ...]

    def _targets(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per block offset: the valid column indices and their pixel indices."""
        nd = len(self.image)
        counts = [(n + self.pads[i] + self.pads[i + nd] - (self.dilations[i] *
                                                              (self.block[i] - 1) + 1))
                  // self.strides[i] + 1 for i, n in enumerate(self.image)]
        places = np.indices(counts).reshape(nd, -1)
        targets = []
        for offset in np.ndindex(*self.block):
            coords = [places[i] * self.strides[i] + offset[i] * self.dilations[i] -
                      self.pads[i] for i in range(nd)]
            valid = np.all([(c >= 0) & (c < n) for c, n in zip(coords, self.image)], axis=0)
            pixels = np.ravel_multi_index([c[valid] for c in coords], self.image)
            targets.append((np.flatnonzero(valid).astype(np.int32), pixels.astype(np.int32)))
        return targets

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        n, rows, length = x.shape
        kernel = math.prod(self.block)
        channels = rows // kernel
        columns = F.reshape(F.transpose(F.reshape(x, (n, channels, kernel, length)),
                                        (2, 3, 0, 1)), (kernel, length, n * channels))
        pixels = math.prod(self.image)
        total = F.zeros((pixels, n * channels), dtype=x.dtype)
        for k, (cols, targets) in enumerate(self._targets()):
            if len(cols):
                picked = columns[k][Tensor(cols)]
                total = F.add(total, scatter_rows(F.zeros_like(total), Tensor(targets),
                                                  picked, "none"))
        return F.reshape(F.transpose(total, (1, 0)), (n, channels, *self.image))


@converter("Col2Im")
def _col2im(node: Node, ctx: Any) -> Converted:
    image = tuple(int(v) for v in ctx.const(node.input(1), "Col2Im image_shape"))
    block = tuple(int(v) for v in ctx.const(node.input(2), "Col2Im block_shape"))
    nd = len(image)
    op = Col2Im(image, block, tuple(node.attr("dilations", [1] * nd)),
                tuple(node.attr("pads", [0] * 2 * nd)), tuple(node.attr("strides", [1] * nd)))
    return op, node.inputs[:1], node.outputs[:1]


def _reduction(node: Node) -> str:
    reduction = node.attr("reduction", "none")
    if reduction not in _REDUCTIONS:
        raise Unsupported(f"reduction {reduction!r} (one of {_REDUCTIONS})")
    return reduction


@converter("ScatterElements", "Scatter")
def _scatter_elements(node: Node, ctx: Any) -> Converted:
    op = ScatterElements(int(node.attr("axis", 0)), _reduction(node))
    return op, node.inputs[:3], node.outputs[:1]


@converter("ScatterND")
def _scatter_nd(node: Node, ctx: Any) -> Converted:
    return ScatterND(_reduction(node)), node.inputs[:3], node.outputs[:1]


@converter("GatherND")
def _gather_nd(node: Node, ctx: Any) -> Converted:
    return GatherND(int(node.attr("batch_dims", 0))), node.inputs[:2], node.outputs[:1]


__all__: list[str] = []
