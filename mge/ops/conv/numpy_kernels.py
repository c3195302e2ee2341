"""numpy kernels: ``ConvolutionForward``, ``ConvBiasForward`` (im2col + matmul) and
``ConvolutionBackwardData`` (one matmul, then one scatter-add per kernel offset),
``ConvolutionBackwardFilter`` (one contraction of the windows with the output gradient).

Everything is computed in float32 (float16 inputs are widened and the result rounded once).

In a plan (NCHW, constant filter) the forward convolutions are *prepared* once: the
filter is canonicalised and reshaped to a matrix once; 1x1 stride-1 convolutions are
one matrix product per image; others copy the ``KH*KW`` strided windows into a scratch
matrix (im2col) shared by the plan's ops and multiply once; depthwise ones sum
``KH*KW`` scaled slices. Bias and nonlinearity are applied in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..elemwise.numpy_kernels import ELEMWISE, INPLACE_UNARY
from ..registry import NUMPY, Prepared, PrepareSite
from . import (
    ConvBase,
    ConvBiasForward,
    ConvolutionBackwardData,
    ConvolutionBackwardFilter,
    ConvolutionForward,
    canonical_filter,
    from_canonical_filter,
    split_bias,
)
from .numpy_nd import transposed_conv

F32 = np.dtype("float32")


def _nonline(mode: str) -> Callable[[np.ndarray], np.ndarray]:
    return ELEMWISE[mode] if mode != "IDENTITY" else (lambda x: x)


def _windows(
    x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
    dilate: tuple[int, int],
) -> np.ndarray:
    """Sliding windows of an NCHW array: a view ``(N, C, OH, OW, KH, KW)`` (zero-pads first)."""
    (ph, pw), (dh, dw) = pad, dilate
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    span = ((kernel[0] - 1) * dh + 1, (kernel[1] - 1) * dw + 1)
    view = sliding_window_view(x, span, axis=(2, 3))
    return view[:, :, :: stride[0], :: stride[1], ::dh, ::dw]


def _depthwise(op: ConvBase, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Groups of one input channel: one broadcast multiply-add per kernel offset.

    Returns ``(N, groups, ocpg, OH, OW)``.
    """
    groups, ocpg, _, kh, kw = w.shape
    (sh, sw), (dh, dw) = (op.stride_h, op.stride_w), (op.dilate_h, op.dilate_w)
    x = np.pad(x, ((0, 0), (0, 0), (op.pad_h, op.pad_h), (op.pad_w, op.pad_w)))
    oh = (x.shape[2] - (kh - 1) * dh - 1) // sh + 1
    ow = (x.shape[3] - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((x.shape[0], groups, ocpg, oh, ow), np.float32)
    for i in range(kh):
        for j in range(kw):
            part = x[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                     j * dw: j * dw + sw * (ow - 1) + 1: sw]
            out += part[:, :, None] * w[None, :, :, 0, i, j, None, None]
    return out


def _im2col(op: ConvBase, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Any grouping: one matrix product per group over all patches.

    Returns ``(N, groups, ocpg, OH, OW)``.
    """
    groups, ocpg, icpg, kh, kw = w.shape
    n = x.shape[0]
    win = _windows(x, (kh, kw), (op.stride_h, op.stride_w), (op.pad_h, op.pad_w),
                   (op.dilate_h, op.dilate_w))
    oh, ow = win.shape[2:4]
    win = win.reshape(n, groups, icpg, oh, ow, kh, kw)
    cols = win.transpose(1, 0, 3, 4, 2, 5, 6).reshape(groups, n * oh * ow, icpg * kh * kw)
    out = cols @ w.reshape(groups, ocpg, icpg * kh * kw).transpose(0, 2, 1)
    return out.reshape(groups, n, oh, ow, ocpg).transpose(1, 0, 4, 2, 3)


def _conv(op: ConvBase, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The convolution in float32, in the op's format."""
    if op.format == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    w = canonical_filter(op, w).astype(np.float32)
    x = x.astype(np.float32, copy=False)
    out = _depthwise(op, x, w) if w.shape[2] == 1 and w.shape[0] > 1 else _im2col(op, x, w)
    n, groups, ocpg, oh, ow = out.shape
    if op.format == "NHWC":
        return out.transpose(0, 3, 4, 1, 2).reshape(n, oh, ow, groups * ocpg)
    return out.reshape(n, groups * ocpg, oh, ow)


@NUMPY.kernel(ConvolutionForward)
def convolution(op: ConvolutionForward, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(_conv(op, x, w), dtype=x.dtype)


@NUMPY.kernel(ConvBiasForward)
def conv_bias(op: ConvBiasForward, x: np.ndarray, w: np.ndarray, *extra: np.ndarray) -> np.ndarray:
    out = _conv(op, x, w)
    for term in extra:
        out = out + term.astype(np.float32)
    with np.errstate(over="ignore"):
        out = _nonline(op.nonlineMode)(out)
    return np.ascontiguousarray(out, dtype=x.dtype)


@NUMPY.kernel(ConvolutionBackwardData)
def convolution_backward_data(
    op: ConvolutionBackwardData, w: np.ndarray, diff: np.ndarray
) -> np.ndarray:
    if op.format == "NHWC":
        diff = diff.transpose(0, 3, 1, 2)
    w = canonical_filter(op, w)
    out_hw = op.out_hw(diff.shape[2:], w.shape[3:])
    out = transposed_conv(w, diff, (op.stride_h, op.stride_w), (op.pad_h, op.pad_w),
                          (op.dilate_h, op.dilate_w), out_hw)
    if op.format == "NHWC":
        out = out.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(out, dtype=diff.dtype)


@NUMPY.kernel(ConvolutionBackwardFilter)
def convolution_backward_filter(
    op: ConvolutionBackwardFilter, x: np.ndarray, diff: np.ndarray, w: np.ndarray
) -> np.ndarray:
    if op.format == "NHWC":
        x, diff = x.transpose(0, 3, 1, 2), diff.transpose(0, 3, 1, 2)
    groups, ocpg, icpg, kh, kw = canonical_filter(op, w).shape
    n, _, oh, ow = diff.shape
    win = _windows(x.astype(np.float32), (kh, kw), (op.stride_h, op.stride_w),
                   (op.pad_h, op.pad_w), (op.dilate_h, op.dilate_w))[:, :, :oh, :ow]
    win = win.reshape(n, groups, icpg, oh, ow, kh, kw)
    d = diff.astype(np.float32).reshape(n, groups, ocpg, oh, ow)
    grad = np.einsum("ngohw,ngihwkl->goikl", d, win, optimize=True)
    return np.ascontiguousarray(from_canonical_filter(op, grad), dtype=w.dtype)


# ------------------------------------------------------------------ plan preparation
@NUMPY.preparer(ConvolutionForward, ConvBiasForward)
def prepare_conv(op: ConvBase, site: PrepareSite) -> Prepared | None:
    """A plan's NCHW convolution with a constant filter, specialised once."""
    filt = site.consts[1]
    if site.host is None or op.format != "NCHW" or filt is None:
        return None
    bias, extra = split_bias(op, site.consts, site.outputs[0])
    act = INPLACE_UNARY[op.epilogue()]
    conv = _make_conv(site.host.scratch, site.inputs[0].shape, site.outputs[0].shape,
                      canonical_filter(op, filt).astype(F32), op)
    bias = None if bias is None else bias.astype(F32)
    dtype = site.outputs[0].dtype

    def run(xv: np.ndarray, *terms: np.ndarray) -> np.ndarray:
        y = conv(xv.astype(F32, copy=False))
        if bias is not None:
            y += bias
        for term in terms:
            y += term
        return act(y).astype(dtype, copy=False)

    return Prepared(run, (0, *extra))


def _make_conv(scratch: Any, xshape: tuple[int, ...], oshape: tuple[int, ...],
               g5: np.ndarray, op: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A function computing the convolution of an ``xshape`` input (NCHW, float32)."""
    n, c, h, w = xshape
    _, oc, oh, ow = oshape
    groups, ocpg, icpg, kh, kw = g5.shape
    sh, sw, ph, pw = op.stride_h, op.stride_w, op.pad_h, op.pad_w
    dh, dw = op.dilate_h, op.dilate_w
    if groups == 1 and (kh, kw, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0):
        mat = np.ascontiguousarray(g5.reshape(oc, c))
        return lambda x: np.matmul(mat, x.reshape(n, c, h * w)).reshape(oshape)

    def windows(x: np.ndarray) -> Callable[[int, int], np.ndarray]:
        if ph or pw:
            xp = scratch.get("pad", (n, c, h + 2 * ph, w + 2 * pw))
            xp[:, :, :ph], xp[:, :, ph + h:] = 0, 0
            xp[:, :, ph:ph + h, :pw], xp[:, :, ph:ph + h, pw + w:] = 0, 0
            xp[:, :, ph:ph + h, pw:pw + w] = x
            x = xp
        return lambda i, j: x[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                              j * dw: j * dw + sw * (ow - 1) + 1: sw]

    if icpg == 1 and ocpg == 1:  # depthwise: sum of scaled slices
        taps = np.ascontiguousarray(g5.reshape(c, kh * kw).T).reshape(kh * kw, 1, c, 1, 1)

        def depthwise(x: np.ndarray) -> np.ndarray:
            window = windows(x)
            y = np.multiply(window(0, 0), taps[0])
            tmp = scratch.get("tap", oshape)
            for k in range(1, kh * kw):
                y += np.multiply(window(k // kw, k % kw), taps[k], out=tmp)
            return y

        return depthwise
    mat = np.ascontiguousarray(g5.reshape(groups, ocpg, icpg * kh * kw))

    def im2col(x: np.ndarray) -> np.ndarray:
        window = windows(x)
        cols = scratch.get("cols", (n, c, kh, kw, oh, ow))
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = window(i, j)
        cols = cols.reshape(n, groups, icpg * kh * kw, oh * ow)
        y = np.matmul(mat[0] if groups == 1 else mat, cols[:, 0] if groups == 1 else cols)
        return y.reshape(oshape)

    return im2col


from . import numpy_deformable, numpy_window  # noqa: E402,F401 - more ops' kernels
