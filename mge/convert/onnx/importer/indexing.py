"""ONNX converters for indexing, masks and shape-derived values: ``Gather`` with run-time
or multi-dimensional indices, ``GatherElements``, ``Trilu``, ``Size``, ``CastLike``,
``Range``, ``Mean``, ``DepthToSpace``/``SpaceToDepth`` (see :mod:`.node`).

Indices may be run-time values (token ids, for instance): ``Gather`` becomes MegEngine's
vector indexing and ``GatherElements`` its ``gather``; negative indices count from the end.

Example:
    >>> import mge
    >>> x = mge.tensor(np.arange(6.0).reshape(2, 3))
    >>> GatherIndices(1)(None, x, mge.tensor([[2, 0]])).shape
    (2, 1, 2)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import Chain, Converted, Node, OnnxOp, Unsupported, converter, normalize_axis


def _wrapped(index: Tensor, size: int) -> Tensor:
    """Negative indices counted from the end (``index + size`` where negative)."""
    return F.where(F.less(index, F.zeros_like(index)), F.add(index, size), index)


@dataclasses.dataclass(frozen=True)
class GatherIndices(OnnxOp):
    """ONNX Gather with an index tensor of any rank: the result's ``axis`` is replaced by
    the index's shape."""

    axis: int

    def __call__(self, mod: Any, x: Tensor, index: Tensor) -> Tensor:
        axis = normalize_axis(self.axis, x.ndim)
        flat = _wrapped(F.reshape(F.astype(index, "int32"), (-1,)), x.shape[axis])
        picked = x[(slice(None),) * axis + (flat,)]
        shape = tuple(x.shape[:axis]) + tuple(index.shape) + tuple(x.shape[axis + 1:])
        return F.reshape(picked, shape)


def gather_indices(node: Node, ctx: Any) -> Converted:
    """The converter of Gather when its indices are not a constant vector or scalar."""
    return GatherIndices(int(node.attr("axis", 0))), node.inputs[:2], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class GatherElements(OnnxOp):
    """``F.gather(x, axis, index)`` (negative indices wrapped)."""

    axis: int

    def __call__(self, mod: Any, x: Tensor, index: Tensor) -> Tensor:
        axis = normalize_axis(self.axis, x.ndim)
        index = _wrapped(F.astype(index, "int32"), x.shape[axis])
        return F.gather(x, axis, index)


@converter("GatherElements")
def _gather_elements(node: Node, ctx: Any) -> Converted:
    return GatherElements(int(node.attr("axis", 0))), node.inputs[:2], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Trilu(OnnxOp):
    """Keep the upper (``j - i >= k``) or lower (``j - i <= k``) triangle of the last two
    axes, zeros elsewhere."""

    upper: bool
    k: int

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        rows, cols = x.shape[-2], x.shape[-1]
        offset = np.arange(cols)[None, :] - np.arange(rows)[:, None]
        keep = offset >= self.k if self.upper else offset <= self.k
        mask = F.broadcast_to(Tensor(keep), x.shape)
        return F.where(mask, x, F.zeros_like(x))


@converter("Trilu")
def _trilu(node: Node, ctx: Any) -> Converted:
    k = 0
    if node.input(1):
        k = int(np.asarray(ctx.const(node.input(1), "Trilu k")).reshape(()))
    return Trilu(bool(node.attr("upper", 1)), k), node.inputs[:1], node.outputs[:1]


@converter("Size")
def _size(node: Node, ctx: Any) -> Converted:
    shape = ctx.static_shape(node.input(0))
    if shape is None:
        raise Unsupported(f"the shape of {node.input(0)!r} is not static")
    ctx.consts[node.outputs[0]] = np.asarray(math.prod(shape), dtype=np.int64)
    return None


@dataclasses.dataclass(frozen=True)
class CastLike(OnnxOp):
    """Cast the first input to the type of the second."""

    def __call__(self, mod: Any, x: Tensor, like: Tensor) -> Tensor:
        return F.astype(x, like.dtype)


@converter("CastLike")
def _cast_like(node: Node, ctx: Any) -> Converted:
    return CastLike(), node.inputs[:2], node.outputs[:1]


@converter("Range")
def _range(node: Node, ctx: Any) -> Converted:
    start, limit, delta = (np.asarray(ctx.const(node.input(i), f"Range {what}")).reshape(())
                           for i, what in enumerate(("start", "limit", "delta")))
    if delta == 0:
        raise Unsupported("Range delta 0")
    count = max(int(np.ceil((limit - start) / delta)), 0)
    values = start + np.arange(count, dtype=np.float64) * delta
    ctx.consts[node.outputs[0]] = values.astype(start.dtype)
    return None


@converter("Mean")
def _mean(node: Node, ctx: Any) -> Converted:
    inputs = [i for i in node.inputs if i]
    return Average(len(inputs)), inputs, node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Average(OnnxOp):
    """Elementwise mean of ``count`` broadcast inputs."""

    count: int

    def __call__(self, mod: Any, *xs: Tensor) -> Tensor:
        return F.div(Chain("add")(mod, *xs), F.full_like(xs[0], self.count)) \
            if self.count > 1 else xs[0]


@dataclasses.dataclass(frozen=True)
class DepthToSpace(OnnxOp):
    """DepthToSpace (``DCR``/``CRD``) or, with ``inverse``, SpaceToDepth, as a reshape, a
    transpose and a reshape."""

    block: int
    mode: str
    inverse: bool = False

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        b = self.block
        if self.inverse:
            y = F.reshape(x, (n, c, h // b, b, w // b, b))
            order = (0, 3, 5, 1, 2, 4) if self.mode == "DCR" else (0, 1, 3, 5, 2, 4)
            return F.reshape(F.transpose(y, order), (n, c * b * b, h // b, w // b))
        if self.mode == "DCR":
            y = F.reshape(x, (n, b, b, c // (b * b), h, w))
            y = F.transpose(y, (0, 3, 4, 1, 5, 2))
        else:
            y = F.reshape(x, (n, c // (b * b), b, b, h, w))
            y = F.transpose(y, (0, 1, 4, 2, 5, 3))
        return F.reshape(y, (n, c // (b * b), h * b, w * b))


@converter("DepthToSpace", "SpaceToDepth")
def _depth_to_space(node: Node, ctx: Any) -> Converted:
    mode = node.attr("mode", "DCR")
    if mode not in ("DCR", "CRD"):
        raise Unsupported(f"DepthToSpace mode {mode!r}")
    op = DepthToSpace(int(node.attr("blocksize")), mode, node.op_type == "SpaceToDepth")
    return op, node.inputs[:1], node.outputs[:1]


__all__ = ["gather_indices"]
