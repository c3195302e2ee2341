"""torch kernels for the detection, remap and colour ops (``NMSKeep``, ``ROIAlignForward``,
``ROIPoolingForward``, ``DeformablePSROIPoolingForward``, ``CorrelationForward``,
``WarpAffineForward``, ``RemapForward``, ``CvtColorForward``, ``Resize3DForward``).

The numpy backend's vectorized algorithms run here on torch tensors (CPU or CUDA)
through :data:`TORCH_OPS`; NMS computes its overlap matrix on the device and runs the
greedy pass, inherently sequential, on the host.

Example:
    >>> from mge.ops.vision.color import CvtColorForward
    >>> x = torch.tensor([[[[255, 0, 0]]]], dtype=torch.uint8)
    >>> cvt_color_kernel(CvtColorForward(mode="RGB2GRAY"), x)
    tensor([[[[76]]]], dtype=torch.uint8)
"""

from __future__ import annotations

import torch

from ..registry import TORCH
from .color import CvtColorForward
from .detection import (
    CorrelationForward,
    CountPrefix,
    DeformablePSROIPoolingForward,
    NMSKeep,
    ROIAlignForward,
    ROIPoolingForward,
)
from .numpy_color import cvt_color
from .numpy_detection import (
    correlation,
    deformable_psroi_pooling,
    nms_keep,
    roi_align,
    roi_pooling,
)
from .numpy_remap import remap, warp_affine
from .numpy_resize3d import resize3d
from .remap import RemapForward, WarpAffineForward
from .resize3d import Resize3DForward
from .torch_kernels import TORCH_OPS

Pair = tuple[torch.Tensor, torch.Tensor]


@TORCH.kernel(NMSKeep)
def nms_keep_kernel(op: NMSKeep, boxes: torch.Tensor) -> Pair:
    return nms_keep(TORCH_OPS, op, boxes)


@TORCH.kernel(CountPrefix)
def count_prefix_kernel(op: CountPrefix, x: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    return x[:op.checked_count(int(count.reshape(-1)[0]))]


@TORCH.kernel(ROIAlignForward)
def roi_align_kernel(op: ROIAlignForward, src: torch.Tensor, rois: torch.Tensor) -> Pair:
    return roi_align(TORCH_OPS, op, src, rois)


@TORCH.kernel(ROIPoolingForward)
def roi_pooling_kernel(op: ROIPoolingForward, src: torch.Tensor, rois: torch.Tensor) -> Pair:
    return roi_pooling(TORCH_OPS, op, src, rois)


@TORCH.kernel(DeformablePSROIPoolingForward)
def deformable_psroi_pooling_kernel(op: DeformablePSROIPoolingForward, src: torch.Tensor,
                                    rois: torch.Tensor, trans: torch.Tensor) -> Pair:
    return deformable_psroi_pooling(TORCH_OPS, op, src, rois, trans)


@TORCH.kernel(CorrelationForward)
def correlation_kernel(op: CorrelationForward, data1: torch.Tensor,
                       data2: torch.Tensor) -> torch.Tensor:
    return correlation(TORCH_OPS, op, data1, data2)


@TORCH.kernel(WarpAffineForward)
def warp_affine_kernel(op: WarpAffineForward, src: torch.Tensor,
                       mat: torch.Tensor) -> torch.Tensor:
    return warp_affine(TORCH_OPS, op, src, mat)


@TORCH.kernel(RemapForward)
def remap_kernel(op: RemapForward, src: torch.Tensor, map_xy: torch.Tensor) -> torch.Tensor:
    return remap(TORCH_OPS, op, src, map_xy)


@TORCH.kernel(CvtColorForward)
def cvt_color_kernel(op: CvtColorForward, src: torch.Tensor) -> torch.Tensor:
    return cvt_color(TORCH_OPS, op, src)


@TORCH.kernel(Resize3DForward)
def resize3d_kernel(op: Resize3DForward, src: torch.Tensor) -> torch.Tensor:
    return resize3d(TORCH_OPS, op, src)
