"""ONNX converters for one-hot shaped outputs: ``OneHot``, ``Hardmax`` and ``EyeLike``,
written as comparisons of indices with a MegEngine ``arange`` (see :mod:`.node`).

Example:
    >>> import mge
    >>> Hardmax(-1)(None, mge.tensor([[1.0, 3.0, 3.0]])).numpy()
    array([[0., 1., 0.]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter, elem_dtype, normalize_axis


def _positions(size: int, axis: int, ndim: int) -> Tensor:
    """``0 .. size-1`` (int32) laid along ``axis`` of an ``ndim``-d tensor."""
    shape = [1] * ndim
    shape[axis] = size
    return F.reshape(F.arange(size, dtype="int32"), tuple(shape))


@dataclasses.dataclass(frozen=True)
class OneHot(OnnxOp):
    """ONNX OneHot: ``on`` where the (wrapped) index equals the position along the new
    ``axis`` of size ``depth``, ``off`` elsewhere (out-of-range indices: all ``off``)."""

    depth: int
    axis: int

    def __call__(self, mod: Any, index: Tensor, values: Tensor) -> Tensor:
        axis = normalize_axis(self.axis, index.ndim + 1)
        index = F.astype(index, "int32")
        index = F.where(F.less(index, F.zeros_like(index)), F.add(index, self.depth), index)
        hot = F.equal(F.expand_dims(index, axis), _positions(self.depth, axis, index.ndim + 1))
        shape = hot.shape
        off = F.broadcast_to(F.reshape(values[0], (1,) * len(shape)), shape)
        on = F.broadcast_to(F.reshape(values[1], (1,) * len(shape)), shape)
        return F.where(hot, on, off)


@converter("OneHot")
def _one_hot(node: Node, ctx: Any) -> Converted:
    depth = np.asarray(ctx.const(node.input(1), "OneHot depth")).reshape(-1)
    if depth.size != 1 or depth[0] < 1:
        raise Unsupported(f"OneHot depth {depth.tolist()} must be one positive number")
    op = OneHot(int(depth[0]), int(node.attr("axis", -1)))
    return op, [node.input(0), node.input(2)], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Hardmax(OnnxOp):
    """1 at the first maximum along ``axis``, 0 elsewhere (opset 13's per-axis rule)."""

    axis: int

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        axis = normalize_axis(self.axis, x.ndim)
        top = F.argmax(x, axis=axis, keepdims=True)
        hot = F.equal(top, _positions(x.shape[axis], axis, x.ndim))
        return F.astype(hot, x.dtype)


@converter("Hardmax")
def _hardmax(node: Node, ctx: Any) -> Converted:
    if ctx.opset < 13:
        raise Unsupported("Hardmax before opset 13 (over a flattened 2-d view)")
    return Hardmax(int(node.attr("axis", -1))), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class EyeLike(OnnxOp):
    """Ones on the ``k``-th diagonal of a matrix shaped like the input, in ``dtype``."""

    k: int
    dtype: str | None

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        rows, cols = x.shape
        shift = F.sub(_positions(cols, 1, 2), _positions(rows, 0, 2))
        diagonal = F.equal(shift, F.full((rows, cols), self.k, dtype="int32"))
        return F.astype(diagonal, self.dtype or x.dtype)


@converter("EyeLike")
def _eye_like(node: Node, ctx: Any) -> Converted:
    code = node.attr("dtype")
    dtype = None if code is None else elem_dtype(int(code), "the EyeLike dtype").name
    return EyeLike(int(node.attr("k", 0)), dtype), node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
