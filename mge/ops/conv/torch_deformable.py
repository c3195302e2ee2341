"""torch kernel of ``DeformableConvForward`` (the numpy kernel's sampling, with
``torch.gather``); its gradients run the numpy kernels on the values (training-only ops,
kept in one place)."""

from __future__ import annotations

import torch

from ..registry import TORCH
from ..torch_arrays import to_numpy
from .deformable import (
    DeformableConvBackwardData,
    DeformableConvBackwardFilter,
    DeformableConvForward,
)
from .numpy_deformable import deformable_conv_backward_data, deformable_conv_backward_filter


def _columns(op: DeformableConvForward, x: torch.Tensor, offset: torch.Tensor,
             mask: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """``(N, IC, KH * KW, OH * OW)`` masked bilinear samples (float32)."""
    n, c, h, w = x.shape
    kh, kw = kernel
    _, _, oh, ow = mask.shape
    dg = mask.shape[1] // (kh * kw)
    img = x.float().reshape(n, dg, c // dg, h * w)
    off = offset.float().reshape(n, dg, kh * kw, 2, oh * ow)
    msk = mask.float().reshape(n, dg, kh * kw, oh * ow)
    dev = x.device
    base_y = (torch.arange(oh, device=dev) * op.stride_h - op.pad_h).repeat_interleave(ow)
    base_x = (torch.arange(ow, device=dev) * op.stride_w - op.pad_w).repeat(oh)
    cols = []
    for t in range(kh * kw):
        py = (base_y + (t // kw) * op.dilate_h).float() + off[:, :, t, 0]
        px = (base_x + (t % kw) * op.dilate_w).float() + off[:, :, t, 1]
        inside = (py > -1) & (px > -1) & (py < h) & (px < w)
        y0, x0 = torch.floor(py), torch.floor(px)
        ly, lx = py - y0, px - x0
        acc = torch.zeros((n, dg, c // dg, oh * ow), device=dev)
        for dy, dx, wt in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx),
                           (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
            yy, xx = y0 + dy, x0 + dx
            ok = inside & (yy >= 0) & (xx >= 0) & (yy <= h - 1) & (xx <= w - 1)
            idx = torch.where(ok, yy * w + xx, 0).long()
            val = torch.gather(img, 3, idx[:, :, None, :].expand(-1, -1, c // dg, -1))
            acc += torch.where(ok, wt, 0)[:, :, None, :] * val
        cols.append(acc * msk[:, :, t][:, :, None, :])
    return torch.stack(cols, 3).reshape(n, c, kh * kw, oh * ow)


@TORCH.kernel(DeformableConvForward)
def deformable_conv(op: DeformableConvForward, x: torch.Tensor, w: torch.Tensor,
                    offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    filt = (w.unsqueeze(0) if op.sparse == "DENSE" else w).float()
    groups, ocpg, icpg, kh, kw = filt.shape
    cols = _columns(op, x, offset, mask, (kh, kw))
    n, _, _, positions = cols.shape
    cols = cols.reshape(n, groups, icpg * kh * kw, positions)
    out = torch.matmul(filt.reshape(groups, ocpg, icpg * kh * kw), cols)
    return out.reshape(n, groups * ocpg, *mask.shape[2:]).to(x.dtype)


@TORCH.kernel(DeformableConvBackwardData, DeformableConvBackwardFilter)
def deformable_conv_backward(op: DeformableConvBackwardData | DeformableConvBackwardFilter,
                             *xs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
    kernel = deformable_conv_backward_data if isinstance(op, DeformableConvBackwardData) \
        else deformable_conv_backward_filter
    out = kernel(op, *[to_numpy(x) for x in xs])
    if isinstance(out, tuple):
        return tuple(torch.from_numpy(o).to(xs[0].device) for o in out)
    return torch.from_numpy(out).to(xs[0].device)
