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


@TORCH.kernel(PoolingBackward)
def pooling_backward(op: PoolingBackward, x: torch.Tensor, y: torch.Tensor, dy: torch.Tensor
                     ) -> torch.Tensor:
    """Each window's gradient added to every cell equal to its maximum (MegEngine's ties)."""
    if op.format == "NHWC":
        x, y, dy = (t.permute(0, 3, 1, 2) for t in (x, y, dy))
    ph, pw, sh, sw = op.pad_h, op.pad_w, op.stride_h, op.stride_w
    xp = tF.pad(x, (pw, pw, ph, ph), value=float("-inf")) if ph or pw else x
    dxp = torch.zeros(xp.shape, dtype=torch.float32, device=x.device)
    oh, ow = y.shape[2:]
    dyf, zero = dy.float(), dy.new_zeros((), dtype=torch.float32)
    for i in range(op.window_h):
        for j in range(op.window_w):
            rows, cols = slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)
            dxp[:, :, rows, cols] += torch.where(xp[:, :, rows, cols] == y, dyf, zero)
    dx = dxp[:, :, ph: ph + x.shape[2], pw: pw + x.shape[3]].to(x.dtype)
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
