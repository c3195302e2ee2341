"""ONNX converters for pooling: MaxPool, AveragePool, LpPool and the global pools, over 1-d,
2-d and 3-d windows (1-d ones run as 2-d on ``[N, C, 1, L]``, see :func:`.nn.lift_1d`),
and MaxUnpool.

Undilated 2-d max and average pools are MegEngine's ``PoolingForward`` (MegEngine has no
3-d pooling); dilated or 3-d windows and ``LpPool`` are gathered as ``kh * kw``
(``kd * kh * kw``) strided slices of the padded input combined with
``maximum``/``add`` (the window counts of an average are the same sums over a mask).

Example:
    >>> import mge
    >>> pool = Pool2d("max", (2, 2), (2, 2), (0, 0, 1, 1), ceil_mode=False)
    >>> pool(None, mge.tensor(np.arange(9.0).reshape(1, 1, 3, 3))).numpy()
    array([[[[4., 5.],
             [7., 8.]]]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .nn import Lifted1d, lift_1d, window_attrs
from .node import Converted, Node, OnnxOp, Unsupported, converter, float_input
from .scatter import scatter_rows

Quad = tuple[int, int, int, int]


def _ceil_extra(size: int, kernel: int, stride: int, begin: int, end: int) -> int:
    """Positions ``ceil_mode`` adds past the end pad: the last window must start inside
    the input or its begin pad (``kernel``: the dilated window extent)."""
    out = -(-(size + begin + end - kernel) // stride) + 1
    if (out - 1) * stride >= size + begin:
        out -= 1
    return max(0, (out - 1) * stride + kernel - (size + begin + end))


@dataclasses.dataclass(frozen=True)
class Pool2d(OnnxOp):
    """Max or average pooling with ONNX pads and ``ceil_mode``.

    Symmetric pads map straight onto ``F.nn.max_pool2d``/``avg_pool2d``. Otherwise the
    input is padded explicitly (with ``-inf`` for max); an average then divides the window
    sums by the pooled count of positions ONNX counts (a padded mask of ones).
    """

    mode: str  # "max", "average" (padding counted) or "average_count_exclude_padding"
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: Quad
    ceil_mode: bool

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        top, left, bottom, right = self.pads
        extra_h = extra_w = 0
        if self.ceil_mode:
            extra_h, extra_w = (_ceil_extra(x.shape[2 + a], self.kernel[a], self.stride[a],
                                            self.pads[a], self.pads[a + 2]) for a in (0, 1))
        if top == bottom and left == right and not (extra_h or extra_w):
            if self.mode == "max":
                return F.nn.max_pool2d(x, self.kernel, self.stride, (top, left))
            return F.nn.avg_pool2d(x, self.kernel, self.stride, (top, left), mode=self.mode)
        width = ((0, 0), (0, 0), (top, bottom + extra_h), (left, right + extra_w))
        if self.mode == "max":
            padded = F.nn.pad(x, width, constant_value=float("-inf"))
            return F.nn.max_pool2d(padded, self.kernel, self.stride)
        sums = F.nn.avg_pool2d(F.nn.pad(x, width), self.kernel, self.stride, mode="average")
        height, wide = x.shape[2], x.shape[3]
        if self.mode == "average":  # padding counts, the ceil overhang does not
            ones = F.ones((1, 1, height + top + bottom, wide + left + right), dtype=x.dtype)
            mask = F.nn.pad(ones, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))
        else:
            mask = F.nn.pad(F.ones((1, 1, height, wide), dtype=x.dtype), width)
        counts = F.nn.avg_pool2d(mask, self.kernel, self.stride, mode="average")
        return F.div(sums, counts)


def _window_sum(x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...],
                dilation: tuple[int, ...], combine: Any) -> Tensor:
    """``combine`` folded over the ``kh * kw`` (``kd * kh * kw`` in 3-d) dilated window
    taps of a padded ``x``, in row-major order."""
    nd = len(kernel)
    out = [(x.shape[2 + a] - (kernel[a] - 1) * dilation[a] - 1) // stride[a] + 1
           for a in range(nd)]
    taps = [
        x[(slice(None), slice(None), *(
            slice(k[a] * dilation[a], k[a] * dilation[a] + (out[a] - 1) * stride[a] + 1,
                  stride[a]) for a in range(nd)))]
        for k in itertools.product(*(range(n) for n in kernel))
    ]
    return functools.reduce(combine, taps)


@dataclasses.dataclass(frozen=True)
class WindowPool(OnnxOp):
    """Pooling by window taps (2-d or 3-d): dilated max/average pools and LpPool
    (``p``-norm of each window, zero padding); ``pads`` are ONNX's, begins then ends."""

    mode: str  # "max", "average", "average_count_exclude_padding" or "lp"
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[int, ...]
    ceil_mode: bool
    p: int = 2
    indices: bool = False  # max: also return the flat NCHW index of each maximum
    column_major: bool = False  # indices: ONNX storage_order=1 (h + w * H within a plane)

    def __call__(self, mod: Any, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        nd = len(self.kernel)
        begins, ends = self.pads[:nd], self.pads[nd:]
        extent = [(k - 1) * d + 1 for k, d in zip(self.kernel, self.dilation)]
        extra = [_ceil_extra(x.shape[2 + a], extent[a], self.stride[a], begins[a], ends[a])
                 if self.ceil_mode else 0 for a in range(nd)]
        width = ((0, 0), (0, 0), *((begins[a], ends[a] + extra[a]) for a in range(nd)))
        window = (self.kernel, self.stride, self.dilation)
        if self.mode == "max":
            dtype = np.dtype(x.dtype)
            lowest = float("-inf") if dtype.kind == "f" else int(np.iinfo(dtype).min)
            padded = F.nn.pad(x, width, constant_value=lowest)
            if self.indices:
                return self._argmax(x, padded)
            return _window_sum(padded, *window, F.maximum)
        if self.mode == "lp":
            powered = F.abs(x) if self.p == 1 else F.pow(F.abs(x), float(self.p))
            total = _window_sum(F.nn.pad(powered, width), *window, F.add)
            return total if self.p == 1 else F.pow(total, 1.0 / self.p)
        sums = _window_sum(F.nn.pad(x, width), *window, F.add)
        sizes = x.shape[2:]
        if self.mode == "average":  # padding counts, the ceil overhang does not
            ones = F.ones((1, 1, *(sizes[a] + begins[a] + ends[a] for a in range(nd))),
                          dtype=x.dtype)
            mask = F.nn.pad(ones, ((0, 0), (0, 0), *((0, e) for e in extra)))
        else:
            mask = F.nn.pad(F.ones((1, 1, *sizes), dtype=x.dtype), width)
        return F.div(sums, _window_sum(mask, *window, F.add))


    def _argmax(self, x: Tensor, padded: Tensor) -> tuple[Tensor, Tensor]:
        """The window maxima and the flat ``[N, C, H, W]`` index of each (the first tap
        of equal values wins, as a row-major scan does)."""
        n, c, height, width = x.shape
        taps = _window_sum(padded, self.kernel, self.stride, self.dilation, _tap_list)
        taps = taps if isinstance(taps, list) else [taps]
        out = taps[0].shape[2:]
        rows = np.arange(out[0])[:, None] * self.stride[0] - self.pads[0]
        cols = np.arange(out[1])[None, :] * self.stride[1] - self.pads[1]
        base = (np.arange(n * c, dtype=np.int64) * height * width).reshape(n, c, 1, 1)
        best, where = None, None
        for k, tap in enumerate(taps):
            i, j = divmod(k, self.kernel[1])
            row, col = rows + i * self.dilation[0], cols + j * self.dilation[1]
            pixel = row + col * height if self.column_major else row * width + col
            index = Tensor((base + pixel[None, None]).astype(np.int32))
            if best is None:
                best, where = tap, index
                continue
            better = F.greater(tap, best)
            best = F.where(better, tap, best)
            where = F.where(better, index, where)
        return best, where


def _tap_list(a: Any, b: Tensor) -> list[Tensor]:
    """A ``_window_sum`` combiner that keeps every tap (in row-major order)."""
    return [*a, b] if isinstance(a, list) else [a, b]


def _pool_op(node: Node, ctx: Any) -> OnnxOp:
    kernel = list(node.attr("kernel_shape", []))
    strides, dilations, pads = window_attrs(node, ctx, kernel, (2, 3))
    ceil_mode = bool(node.attr("ceil_mode", 0))
    if node.op_type == "LpPool":
        p = int(node.attr("p", 2))
        if p < 1:
            raise Unsupported(f"LpPool p={p} (p must be at least 1)")
        return WindowPool("lp", tuple(kernel), tuple(strides), tuple(dilations), tuple(pads),
                          ceil_mode, p)
    if node.op_type == "MaxPool":
        dtype = ctx.dtypes.get(node.input(0))
        indices = len(node.outputs) > 1 and bool(node.outputs[1])
        # storage_order only affects the Indices output
        column_major = indices and bool(node.attr("storage_order", 0))
        if indices and len(kernel) == 3:
            raise Unsupported("the Indices output of a 3-d MaxPool is not supported")
        if indices or len(kernel) == 3 or (dtype is not None and dtype.kind != "f"):
            return WindowPool("max", tuple(kernel), tuple(strides), tuple(dilations),
                              tuple(pads), ceil_mode, indices=indices,
                              column_major=column_major)
        mode = "max"
    else:
        mode = "average" if node.attr("count_include_pad", 0) else \
            "average_count_exclude_padding"
    if dilations != [1, 1] or len(kernel) == 3:
        return WindowPool(mode, tuple(kernel), tuple(strides), tuple(dilations), tuple(pads),
                          ceil_mode)
    return Pool2d(mode, tuple(kernel), tuple(strides), tuple(pads), ceil_mode)


@converter("MaxPool", "AveragePool", "LpPool")
def _pool(node: Node, ctx: Any) -> Converted:
    if node.op_type != "MaxPool":
        float_input(node, ctx)
    rank = len(node.attr("kernel_shape", []))
    outputs = node.outputs[:2] if node.op_type == "MaxPool" else node.outputs[:1]
    if rank == 1:
        if len(outputs) > 1 and outputs[1]:
            raise Unsupported("the Indices output of a 1-d MaxPool is not supported")
        return Lifted1d(_pool_op(lift_1d(node), ctx)), node.inputs[:1], node.outputs[:1]
    return _pool_op(node, ctx), node.inputs[:1], outputs


@dataclasses.dataclass(frozen=True)
class MaxUnpool(OnnxOp):
    """ONNX MaxUnpool: zeros of the unpooled size with each value put at its flat
    ``[N, C, *spatial]`` index (as MaxPool's Indices output gives it)."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]

    def __call__(self, mod: Any, x: Tensor, index: Tensor) -> Tensor:
        nd = x.ndim - 2
        spatial = tuple(
            (x.shape[2 + i] - 1) * self.strides[i] - self.pads[i] - self.pads[i + nd] +
            self.kernel[i] for i in range(nd))
        shape = (*x.shape[:2], *spatial)
        flat = F.zeros((int(np.prod(shape)),), dtype=x.dtype)
        out = scatter_rows(flat, F.reshape(F.astype(index, "int32"), (-1,)),
                           F.reshape(x, (-1,)), "none")
        return F.reshape(out, shape)


@converter("MaxUnpool")
def _max_unpool(node: Node, ctx: Any) -> Converted:
    kernel = tuple(int(k) for k in node.attr("kernel_shape"))
    nd = len(kernel)
    if node.input(2):
        # ONNX's reference scatters into the inferred size and pads to output_shape while
        # onnxruntime indexes output_shape itself: the two disagree, so it is refused
        raise Unsupported("MaxUnpool with output_shape (its indexing is ambiguous)")
    op = MaxUnpool(kernel, tuple(node.attr("strides", [1] * nd)),
                   tuple(node.attr("pads", [0] * 2 * nd)))
    return op, node.inputs[:2], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class GlobalPool(OnnxOp):
    """``F.mean``/``F.max`` over all spatial axes, keeping them as size 1."""

    fn: str

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return getattr(F, self.fn)(x, axis=tuple(range(2, x.ndim)), keepdims=True)


@converter("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(node: Node, ctx: Any) -> Converted:
    fn = "mean" if node.op_type == "GlobalAveragePool" else "max"
    return GlobalPool(fn), node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
