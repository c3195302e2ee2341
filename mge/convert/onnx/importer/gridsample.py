"""ONNX converters for the spatial-transformer pair ``AffineGrid`` and ``GridSample``
(2-d and 3-d), composed of MegEngine's ``matmul``, ``gather`` and elementwise ops (see
:mod:`.node`).

``GridSample`` follows ONNX's reference rules: grid values in ``[-1, 1]`` are mapped to
pixel coordinates (``align_corners``), nearest rounds half to even, a coordinate outside
the border range is clamped (``border``) or reflected (``reflection``), and each tap of
the linear (2 per axis) or cubic (4 per axis, Keys ``A = -0.75``) window reads zero
outside the input (``zeros``) or its clamped/reflected pixel.

Example:
    >>> import mge
    >>> x = mge.tensor(np.arange(4.0).reshape(1, 1, 2, 2))
    >>> grid = mge.tensor([[[[0.0, 0.0]]]])  # the centre of the image
    >>> GridSample("linear", "zeros", True)(None, x, grid).numpy()
    array([[[[1.5]]]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .elementwise import Round
from .node import Converted, Node, OnnxOp, Unsupported, converter

_MODES = {"bilinear": "linear", "linear": "linear", "nearest": "nearest",
          "bicubic": "cubic", "cubic": "cubic"}
_PADDINGS = ("zeros", "border", "reflection")


def _reflect(x: Tensor, low: float, high: float) -> Tensor:
    """``x`` reflected at ``low``/``high`` until inside (ONNX's ``_gs_reflect``)."""
    span = high - low
    below, above = F.less(x, F.full_like(x, low)), F.greater(x, F.full_like(x, high))
    dist = F.where(below, F.sub(F.full_like(x, low), x), F.sub(x, F.full_like(x, high)))
    folds = F.floor(F.div(dist, F.full_like(x, span)))
    rest = F.sub(dist, F.mul(folds, span))
    even = F.equal(F.mod(folds, F.full_like(folds, 2.0)), F.zeros_like(folds))
    from_low, from_high = F.add(rest, low), F.sub(F.full_like(x, high), rest)
    inside = F.where(below, F.where(even, from_low, from_high),
                     F.where(even, from_high, from_low))
    return F.where(F.logical_or(below, above), inside, x)


def _keys(t: Tensor) -> list[Tensor]:
    """Cubic convolution weights (``A = -0.75``) of the 4 taps around a fraction ``t``."""
    a = -0.75

    def near(d: Tensor) -> Tensor:
        return F.add(F.mul(F.mul(F.sub(F.mul(d, a + 2), a + 3), d), d), 1.0)

    def far(d: Tensor) -> Tensor:
        return F.sub(F.mul(F.add(F.mul(F.sub(F.mul(d, a), 5 * a), d), 8 * a), d), 4 * a)

    one = F.ones_like(t)
    return [far(F.add(t, one)), near(t), near(F.sub(one, t)), far(F.sub(F.full_like(t, 2.0), t))]


@dataclasses.dataclass(frozen=True)
class GridSample(OnnxOp):
    """ONNX GridSample on ``[N, C, *dims]`` at ``grid`` ``[N, *out, ndim]`` (x first)."""

    mode: str  # "nearest", "linear" or "cubic"
    padding: str
    align_corners: bool

    def _taps(self, x: Tensor, size: int) -> list[tuple[Tensor, Tensor | None]]:
        """``(index, weight)`` per window tap along one axis at coordinates ``x``."""
        low, high = (0.0, size - 1.0) if self.align_corners else (-0.5, size - 0.5)
        if self.mode == "nearest":
            x = Round()(None, x)
        if self.padding == "border":
            outside = F.logical_or(F.less(x, F.full_like(x, low)),
                                   F.greater(x, F.full_like(x, high)))
            x = F.where(outside, F.clip(x, 0.0, size - 1.0), x)
        elif self.padding == "reflection":
            x = _reflect(x, low, high)
        if self.mode == "nearest":
            return [(F.astype(x, "int32"), None)]
        base = F.floor(x)
        t = F.sub(x, base)
        start = F.astype(base, "int32")
        if self.mode == "linear":
            return [(start, F.sub(F.ones_like(t), t)), (F.add(start, 1), t)]
        return [(F.add(start, k - 1), w) for k, w in enumerate(_keys(t))]

    def _fetch(self, index: Tensor, size: int) -> tuple[Tensor, Tensor | None]:
        """A tap's index made valid per padding mode, and its validity for ``zeros``."""
        low, high = (0.0, size - 1.0) if self.align_corners else (-0.5, size - 0.5)
        if self.padding == "zeros":
            valid = F.logical_and(F.greater_equal(index, F.zeros_like(index)),
                                  F.less(index, F.full_like(index, size)))
            return F.clip(index, 0, size - 1), valid
        if self.padding == "border":
            return F.clip(index, 0, size - 1), None
        folded = _reflect(F.astype(index, "float32"), low, high)
        return F.clip(F.astype(folded, "int32"), 0, size - 1), None

    def __call__(self, mod: Any, x: Tensor, grid: Tensor) -> Tensor:
        dims = tuple(x.shape[2:])
        nd = len(dims)
        out = tuple(grid.shape[1:-1])
        values = F.astype(grid, "float32")
        axes_taps = []
        for axis, size in enumerate(dims):
            g = values[..., nd - 1 - axis]
            if self.align_corners:
                pos = F.mul(F.add(g, 1.0), (size - 1) / 2.0)
            else:
                pos = F.div(F.sub(F.mul(F.add(g, 1.0), float(size)), 1.0), 2.0)
            axes_taps.append([(*self._fetch(i, size), w) for i, w in self._taps(pos, size)])
        flat = F.reshape(x, (x.shape[0], x.shape[1], -1))
        strides = [math.prod(dims[a + 1:]) for a in range(nd)]
        total = None
        for combo in itertools.product(*axes_taps):
            linear = functools.reduce(F.add, [F.mul(i, s) for (i, _, _), s in zip(combo, strides)])
            weights = [w for _, _, w in combo if w is not None]
            weights += [F.astype(v, "float32") for _, v, _ in combo if v is not None]
            index = F.broadcast_to(F.reshape(linear, (x.shape[0], 1, -1)),
                                   (x.shape[0], x.shape[1], math.prod(out)))
            picked = F.astype(F.gather(flat, 2, index), "float32")
            if weights:
                scale = F.reshape(functools.reduce(F.mul, weights), (x.shape[0], 1, -1))
                picked = F.mul(picked, scale)
            total = picked if total is None else F.add(total, picked)
        return F.astype(F.reshape(total, (*x.shape[:2], *out)), x.dtype)


@converter("GridSample")
def _grid_sample(node: Node, ctx: Any) -> Converted:
    mode = node.attr("mode", "bilinear" if ctx.opset < 20 else "linear")
    padding = node.attr("padding_mode", "zeros")
    if mode not in _MODES or padding not in _PADDINGS:
        raise Unsupported(f"GridSample mode={mode!r} padding_mode={padding!r}")
    op = GridSample(_MODES[mode], padding, bool(node.attr("align_corners", 0)))
    return op, node.inputs[:2], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class AffineGrid(OnnxOp):
    """ONNX AffineGrid: the sampling grid ``[N, *dims, ndim]`` of ``theta`` ``[N, ndim,
    ndim + 1]`` over an output of spatial size ``dims``."""

    dims: tuple[int, ...]
    align_corners: bool

    def __call__(self, mod: Any, theta: Tensor) -> Tensor:
        axes = []
        for size in self.dims:
            steps = np.arange(size, dtype=np.float64)
            if self.align_corners:
                axes.append(np.linspace(-1.0, 1.0, size) if size > 1 else np.zeros(1))
            else:
                axes.append((steps * 2 + 1) / size - 1)
        mesh = np.meshgrid(*axes, indexing="ij")  # z, y, x order
        base = np.stack([*mesh[::-1], np.ones(self.dims)], axis=-1).reshape(-1, len(self.dims) + 1)
        points = Tensor(base.astype(np.float32))
        batch = theta.shape[0]
        grid = F.matmul(F.broadcast_to(points, (batch, *points.shape)),
                        F.astype(theta, "float32"), transpose_b=True)
        return F.astype(F.reshape(grid, (batch, *self.dims, len(self.dims))), theta.dtype)


@converter("AffineGrid")
def _affine_grid(node: Node, ctx: Any) -> Converted:
    size = [int(v) for v in ctx.const(node.input(1), "AffineGrid size")]
    if len(size) not in (4, 5):
        raise Unsupported(f"AffineGrid size {size} (2-d or 3-d: [N, C, H, W] or [N, C, D, "
                          "H, W])")
    op = AffineGrid(tuple(size[2:]), bool(node.attr("align_corners", 0)))
    return op, node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
