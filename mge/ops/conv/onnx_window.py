"""ONNX export rules of the window ops (opset 13, no ``Col2Im``), exact to the numpy kernels.

* ``Images2Neibs``: ``Pad`` then one strided ``Slice`` per window tap, concatenated on a
  new last axis: ``(N, C, OH, OW, KH, KW)``; no arithmetic.
* ``SlidingWindowTranspose``: per tap, the ``(N, C, OH, OW)`` values spread ``stride``
  apart (``Pad`` after each row and column, ``Reshape``) and shifted to where the tap
  reads (``Pad``/``Slice``), summed in the numpy kernel's order (last tap first), then the
  padding cut off: the same sums in the same order.
* ``GroupLocal``: the windows, then ``Einsum`` with the per-position filters, in float32.

Example:
    >>> Images2Neibs.onnx_rule                                   # doctest: +SKIP
    <function _images2neibs ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..registry import onnx_rule
from .window import GroupLocal, Images2Neibs, SlidingWindowTranspose, WindowBase

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode

F32 = np.dtype("float32")


def _pad_hw(ctx: ExportContext, x: Sym, before: tuple[int, int], after: tuple[int, int]) -> Sym:
    """Zero padding of the last two axes (a no-op without any)."""
    if not any(before) and not any(after):
        return x
    lead = [0] * (x.ndim - 2)
    shape = (*x.shape[:-2], x.shape[-2] + before[0] + after[0], x.shape[-1] + before[1] + after[1])
    return x.op("Pad", ctx.ints([*lead, *before, *lead, *after]),
                ctx.const(np.zeros((), x.dtype)), shape=shape, mode="constant")


def _slice_hw(ctx: ExportContext, x: Sym, start: tuple[int, int], count: tuple[int, int],
              step: tuple[int, int]) -> Sym:
    """``x[..., start_h::step_h, start_w::step_w]`` limited to ``count`` rows/columns."""
    ends = [s + (c - 1) * st + 1 for s, c, st in zip(start, count, step, strict=True)]
    return x.op("Slice", ctx.ints(list(start)), ctx.ints(ends), ctx.ints([-2, -1]),
                ctx.ints(list(step)), shape=(*x.shape[:-2], *count))


def _windows(ctx: ExportContext, op: WindowBase, x: Sym, window: tuple[int, int],
             out: tuple[int, int]) -> Sym:
    """``(N, C, OH, OW, KH, KW)``: every window of the zero-padded ``x``."""
    padded = _pad_hw(ctx, x, (op.pad_h, op.pad_w), (op.pad_h, op.pad_w))
    taps = [_slice_hw(ctx, padded, (i * op.dilate_h, j * op.dilate_w), out,
                      (op.stride_h, op.stride_w)).unsqueeze([4])
            for i in range(window[0]) for j in range(window[1])]
    return ctx.concat(taps, 4).reshape((*x.shape[:2], *out, *window))


@onnx_rule(Images2Neibs)
def _images2neibs(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, out = node.op, node.outputs[0]
    return [_windows(ctx, op, xs[0], (op.window_h, op.window_w), tuple(out.shape[2:4]))]


def _spread(ctx: ExportContext, v: Sym, stride: tuple[int, int]) -> Sym:
    """``(N, C, OH, OW)`` -> ``(N, C, OH * sh, OW * sw)`` with ``v`` at every stride-th
    place and zeros between."""
    n, c, oh, ow = v.shape
    sh, sw = stride
    if (sh, sw) == (1, 1):
        return v
    grid = v.reshape((n, c, oh, 1, ow, 1))
    grid = grid.op("Pad", ctx.ints([0, 0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1]),
                   ctx.const(np.zeros((), v.dtype)), shape=(n, c, oh, sh, ow, sw),
                   mode="constant")
    return grid.reshape((n, c, oh * sh, ow * sw))


@onnx_rule(SlidingWindowTranspose)
def _sliding_window_transpose(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, x = node.op, xs[0]
    n, c, oh, ow, kh, kw = x.shape
    full = (op.out_h + 2 * op.pad_h, op.out_w + 2 * op.pad_w)
    total = None
    for i in reversed(range(kh)):  # the numpy kernel's summation order
        for j in reversed(range(kw)):
            tap = x.op("Slice", ctx.ints([i, j]), ctx.ints([i + 1, j + 1]), ctx.ints([4, 5]),
                       shape=(n, c, oh, ow, 1, 1)).reshape((n, c, oh, ow))
            spread = _spread(ctx, tap, (op.stride_h, op.stride_w))
            top, left = i * op.dilate_h, j * op.dilate_w
            after = [f - t - s for f, t, s in zip(full, (top, left), spread.shape[2:],
                                                  strict=True)]
            placed = _pad_hw(ctx, spread, (top, left), (max(after[0], 0), max(after[1], 0)))
            if min(after) < 0:  # the spread's trailing zeros run past the image
                placed = _slice_hw(ctx, placed, (0, 0), full, (1, 1))
            total = placed if total is None else total + placed
    return [_slice_hw(ctx, total, (op.pad_h, op.pad_w), (op.out_h, op.out_w), (1, 1))]


@onnx_rule(GroupLocal)
def _group_local(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op, out = node.op, node.outputs[0]
    x, w = xs[0].cast(F32), xs[1].cast(F32)
    groups, oh, ow, icpg, fh, fw, ocpg = w.shape
    n = x.shape[0]
    win = _windows(ctx, op, x, (fh, fw), (oh, ow)).reshape((n, groups, icpg, oh, ow, fh, fw))
    y = win.op("Einsum", w, shape=(n, groups, ocpg, oh, ow),
               equation="ngiyxhw,gyxihwo->ngoyx")
    return [y.reshape(tuple(out.shape)).cast(out.dtype)]
