"""torch kernels of the window ops (:mod:`mge.ops.conv.window`): ``unfold``/``fold``."""

from __future__ import annotations

import torch
import torch.nn.functional as tF

from ..registry import TORCH
from .window import GroupLocal, Images2Neibs, SlidingWindowTranspose, WindowBase, window_out


def _geometry(op: WindowBase) -> dict[str, tuple[int, int]]:
    return {"dilation": (op.dilate_h, op.dilate_w), "padding": (op.pad_h, op.pad_w),
            "stride": (op.stride_h, op.stride_w)}


def _unfold(op: WindowBase, x: torch.Tensor, window: tuple[int, int],
            out: tuple[int, int]) -> torch.Tensor:
    """``(N, C, KH, KW, OH, OW)`` windows of NCHW ``x``."""
    cols = tF.unfold(x, window, **_geometry(op))
    return cols.reshape(x.shape[0], x.shape[1], *window, *out)


@TORCH.kernel(Images2Neibs)
def images2neibs(op: Images2Neibs, x: torch.Tensor) -> torch.Tensor:
    window = (op.window_h, op.window_w)
    out = tuple(window_out(s, k, st, p, d) for s, k, st, p, d in zip(
        x.shape[2:], window, (op.stride_h, op.stride_w), (op.pad_h, op.pad_w),
        (op.dilate_h, op.dilate_w), strict=True))
    cols = _unfold(op, x, window, out)
    return cols.permute(0, 1, 4, 5, 2, 3).contiguous()


@TORCH.kernel(SlidingWindowTranspose)
def sliding_window_transpose(op: SlidingWindowTranspose, x: torch.Tensor) -> torch.Tensor:
    n, c, oh, ow, kh, kw = x.shape
    cols = x.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)
    out = tF.fold(cols.float(), (op.out_h, op.out_w), (kh, kw), **_geometry(op))
    return out.to(x.dtype)


@TORCH.kernel(GroupLocal)
def group_local(op: GroupLocal, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    groups, oh, ow, icpg, fh, fw, ocpg = w.shape
    win = _unfold(op, x.float(), (fh, fw), (oh, ow))
    win = win.reshape(x.shape[0], groups, icpg, fh, fw, oh, ow)
    out = torch.einsum("ngihwyx,gyxihwo->ngoyx", win, w.float())
    return out.reshape(x.shape[0], groups * ocpg, oh, ow).to(x.dtype)
