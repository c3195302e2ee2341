"""torch kernels of the 3-d convolutions (``torch.nn.functional.conv3d`` and
``conv_transpose3d``; the MegEngine filter is regrouped to torch's layout)."""

from __future__ import annotations

import torch
import torch.nn.functional as tF

from ..registry import TORCH
from .conv3d import Conv3DBase, Convolution3DBackwardData, Convolution3DForward


def _torch_filter(op: Conv3DBase, w: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The filter as ``(groups * oc/g, ic/g, KD, KH, KW)`` and the group count."""
    w = w.unsqueeze(0) if op.sparse == "DENSE" else w
    if op.mode == "CONVOLUTION":
        w = w.flip((-3, -2, -1))
    groups, ocpg, icpg, *kernel = w.shape
    return w.reshape(groups * ocpg, icpg, *kernel), groups


@TORCH.kernel(Convolution3DForward)
def convolution3d(op: Convolution3DForward, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    filt, groups = _torch_filter(op, w)
    return tF.conv3d(x, filt, None, op.strides, op.pads, op.dilates, groups)


@TORCH.kernel(Convolution3DBackwardData)
def convolution3d_backward_data(op: Convolution3DBackwardData, w: torch.Tensor,
                                diff: torch.Tensor) -> torch.Tensor:
    filt, groups = _torch_filter(op, w)
    base = tuple((d - 1) * s + (k - 1) * dl + 1 - 2 * p for d, k, s, dl, p in zip(
        diff.shape[2:], filt.shape[2:], op.strides, op.dilates, op.pads, strict=True))
    extra = tuple(o - b for o, b in zip(op.output_dhw, base, strict=True)) \
        if op.output_dhw else 0
    return tF.conv_transpose3d(diff, filt, None, op.strides, op.pads, extra, groups,
                               op.dilates)
