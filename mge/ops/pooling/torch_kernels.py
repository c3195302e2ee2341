"""torch kernels: ``PoolingForward`` and ``AdaptivePoolingForward`` via ``torch.nn.functional``;
``PoolingBackward`` as one in-place masked add per window cell.

torch pools pad at most half a window; wider (MegEngine-legal) padding is applied
explicitly first. Adaptive pooling uses MegEngine's fixed window and stride, not torch's
adaptive windows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as tF

from ..registry import TORCH, Prepared, PrepareSite
from . import AdaptivePoolingForward, PoolingBackward, PoolingForward


def _pool_nchw(op: PoolingForward, x: torch.Tensor) -> torch.Tensor:
    kernel, stride = (op.window_h, op.window_w), (op.stride_h, op.stride_w)
    pad = (op.pad_h, op.pad_w)
    exclude = op.mode == "AVERAGE_COUNT_EXCLUDE_PADDING"
    if 2 * op.pad_h > op.window_h or 2 * op.pad_w > op.window_w:
        border = (op.pad_w, op.pad_w, op.pad_h, op.pad_h)
        fill = float("-inf") if op.mode == "MAX" else 0.0
        padded = tF.pad(x, border, value=fill)
        if exclude:
            ones = tF.pad(torch.ones_like(x[:1, :1]), border, value=0.0)
            return tF.avg_pool2d(padded, kernel, stride) / tF.avg_pool2d(ones, kernel, stride)
        x, pad = padded, (0, 0)
    if op.mode == "MAX":
        return tF.max_pool2d(x, kernel, stride, pad)
    return tF.avg_pool2d(x, kernel, stride, pad, count_include_pad=not exclude)


@TORCH.kernel(PoolingForward)
def pooling(op: PoolingForward, x: torch.Tensor) -> torch.Tensor:
    if op.format == "NHWC":
        return _pool_nchw(op, x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).contiguous()
    return _pool_nchw(op, x)


@TORCH.kernel(AdaptivePoolingForward)
def adaptive_pooling(op: AdaptivePoolingForward, x: torch.Tensor) -> torch.Tensor:
    return pooling(op.as_pooling(tuple(x.shape)), x)


def _cells(size: int, out: int, offset: int, stride: int, pad: int) -> tuple[int, int, slice]:
    """The outputs ``[lo, hi)`` whose window cell ``offset`` lies inside an input of
    ``size`` (padding cells never get a gradient), and those cells as a slice of the
    input's phase plane ``first % stride`` (the cells ``phase::stride``, one apart)."""
    lo = max(0, -((offset - pad) // stride))
    hi = min(out, (size - 1 + pad - offset) // stride + 1)
    first = lo * stride + offset - pad
    return lo, hi, slice(first // stride, first // stride + hi - lo)


@TORCH.kernel(PoolingBackward)
def pooling_backward(op: PoolingBackward, x: torch.Tensor, y: torch.Tensor, dy: torch.Tensor
                     ) -> torch.Tensor:
    """Each window's gradient added to every cell equal to its maximum (MegEngine's ties),
    one window cell at a time over the valid part of the unpadded input: an ``eq`` into
    a float mask and one in-place ``addcmul_``, accumulated in float32. The input is
    split into its ``stride_h x stride_w`` phase planes first, so that these passes read
    and write one-apart cells (about 3x faster than strided ones). A non-finite gradient
    (a sum that is not finite) or a non-CPU device masks with ``where`` instead, so that a
    NaN or inf reaches the maxima only, as in MegEngine."""
    if op.format == "NHWC":
        x, y, dy = (t.permute(0, 3, 1, 2) for t in (x, y, dy))
    dyf = dy.float()
    # the check reads a value back: on an accelerator, skip it (and the faster addcmul_)
    finite = x.device.type == "cpu" and bool(dyf.sum().isfinite())
    mask = torch.empty(y.shape, dtype=torch.float32 if finite else torch.bool, device=x.device)
    zero = dyf.new_zeros(())
    sh, sw = op.stride_h, op.stride_w
    planes: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
    (h, w), (oh, ow) = x.shape[2:], y.shape[2:]
    for i in range(op.window_h):
        r0, r1, rows = _cells(h, oh, i, sh, op.pad_h)
        for j in range(op.window_w):
            c0, c1, cols = _cells(w, ow, j, sw, op.pad_w)
            if r1 <= r0 or c1 <= c0:
                continue
            phase = ((r0 * sh + i - op.pad_h) % sh, (c0 * sw + j - op.pad_w) % sw)
            if phase not in planes:
                src = x[:, :, phase[0]::sh, phase[1]::sw].contiguous()
                planes[phase] = src, torch.zeros(src.shape, dtype=torch.float32,
                                                 device=x.device)
            src, acc = planes[phase]
            hit, g = mask[:, :, r0:r1, c0:c1], dyf[:, :, r0:r1, c0:c1]
            torch.eq(src[:, :, rows, cols], y[:, :, r0:r1, c0:c1], out=hit)
            if finite:
                acc[:, :, rows, cols].addcmul_(hit, g)
            else:
                acc[:, :, rows, cols] += torch.where(hit, g, zero)
    if sh == sw == 1 and planes:
        dx = planes[0, 0][1].to(x.dtype)
    else:
        dx = torch.zeros(x.shape, dtype=x.dtype, device=x.device) if len(planes) < sh * sw \
            else torch.empty(x.shape, dtype=x.dtype, device=x.device)
        for (a, b), (_, acc) in planes.items():
            dx[:, :, a::sh, b::sw] = acc
    return dx.permute(0, 2, 3, 1).contiguous() if op.format == "NHWC" else dx


# ------------------------------------------------------------------ plan preparation
@TORCH.preparer(PoolingForward)
def prepare_pooling(op: PoolingForward, site: PrepareSite) -> Prepared | None:
    """Global average pooling of NCHW data: ``adaptive_avg_pool2d``."""
    shape = site.inputs[0].shape
    if site.host is None or op.format != "NCHW" or op.mode == "MAX" or \
            not op.covers_input(shape):
        return None
    pool = tF.adaptive_avg_pool2d
    return Prepared(lambda x: pool(x, 1), (0,))
