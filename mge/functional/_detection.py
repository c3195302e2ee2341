"""Detection functions of MegEngine's ``F.vision``: ``nms``, ``roi_align``, ``roi_pooling``,
``correlation`` (re-exported by :mod:`mge.functional.vision`), and ``F.nn``'s
``deformable_psroi_pooling``.

Each builds the MegEngine operator of :mod:`mge.ops.vision.detection` as MegEngine 1.13
does (``nms`` sorts the boxes by score first, with MegEngine's order for equal scores:
the later box first).

Example:
    >>> import numpy as np, mge, mge.functional as F
    >>> boxes = mge.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
    >>> F.vision.nms(boxes, mge.tensor([0.9, 0.8, 0.7]), iou_thresh=0.5).numpy()
    array([0, 2], dtype=int32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.apply import apply
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..ops.shape import Reshape
from ..ops.vision.detection import (
    CorrelationForward,
    CountPrefix,
    DeformablePSROIPoolingForward,
    NMSKeep,
    ROIAlignForward,
    ROIPoolingForward,
)
from .elemwise import as_tensor, astype
from .math import argsort

__all__ = ["correlation", "deformable_psroi_pooling", "nms", "roi_align", "roi_pooling"]


def _pair(fn: str, arg: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        h, w = (int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {arg} must be an int or (height, width), got {value!r}") from None
    return h, w


def _mode(fn: str, mode: str) -> str:
    if str(mode).lower() not in ("max", "average"):
        raise ValueError(f"{fn}: only max/average mode is supported, got {mode!r}")
    return str(mode).upper()


def _rois(fn: str, inp: Tensor, rois: Any) -> tuple[Tensor, Tensor]:
    inp, rois = as_tensor(inp), as_tensor(rois)
    if inp.ndim != 4:
        raise ValueError(f"{fn}: inp must be (n, c, h, w), got shape {inp.shape}")
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(f"{fn}: rois must be (k, 5) rows (batch_index, x0, y0, x1, y1), "
                         f"got shape {rois.shape}")
    return astype(inp, "float32"), astype(rois, "float32")


@traceable
def nms(boxes: Tensor, scores: Tensor, iou_thresh: float,
        max_output: int | None = None) -> Tensor:
    """Non-maximum suppression: indices of the boxes kept, highest score first.

    A box is dropped when its IoU with a kept, higher-scored box exceeds ``iou_thresh``.

    Args:
        boxes: ``(n, 4)`` boxes ``(x1, y1, x2, y2)``.
        scores: ``(n,)`` scores.
        iou_thresh: IoU threshold.
        max_output: keep at most this many boxes (default: all).

    Returns:
        int32 indices into ``boxes``.

    Example:
        >>> import mge, mge.functional as F
        >>> b = mge.tensor([[0, 0, 4, 4], [0, 0, 4, 3.9], [5, 5, 6, 6]])
        >>> F.vision.nms(b, mge.tensor([0.5, 0.9, 0.1]), iou_thresh=0.7).numpy()
        array([1, 2], dtype=int32)
    """
    boxes, scores = as_tensor(boxes), as_tensor(scores)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"nms: the expected shape of boxes is (N, 4), got {boxes.shape}")
    if scores.ndim != 1:
        raise ValueError(f"nms: the expected shape of scores is (N,), got {scores.shape}")
    if boxes.shape[0] != scores.shape[0]:
        raise ValueError(f"nms: number of boxes ({boxes.shape[0]}) and scores "
                         f"({scores.shape[0]}) are not matched")
    # MegEngine sorts (score, index) pairs descending: equal scores keep the later box first
    sorted_idx = argsort(scores)[::-1]
    boxes = astype(boxes, "float32")[sorted_idx]
    if max_output is None:
        max_output = boxes.shape[0]
    op = NMSKeep(iou_thresh=float(iou_thresh), max_output=int(max_output))
    flat = apply(Reshape(shape=(1, boxes.shape[0], 4)), boxes)[0]
    indices, count = apply(op, flat)
    # the kept count is data: a traced call records it as CountPrefix (its size is not
    # checked on later calls), which a dump writes as MegEngine's slice by the count var
    kept = apply(CountPrefix(size=int(count.numpy()[0])), indices[0], count)[0]
    return sorted_idx[kept]


@traceable
def roi_align(
    inp: Tensor,
    rois: Tensor,
    output_shape: int | tuple[int, int],
    mode: str = "average",
    spatial_scale: float = 1.0,
    sample_points: int | tuple[int, int] = 2,
    aligned: bool = True,
) -> Tensor:
    """RoI Align (Mask R-CNN): bilinear samples averaged (or maxed) over each output bin.

    Args:
        inp: ``(n, c, h, w)`` features.
        rois: ``(k, 5)`` rows ``(batch_index, x1, y1, x2, y2)``.
        output_shape: ``(height, width)`` of each pooled roi (an int: square).
        mode: "average" or "max".
        spatial_scale: scales the roi coordinates to the feature map.
        sample_points: samples per bin along ``(height, width)``; 0 takes none (zeros).
        aligned: shift the scaled boxes by -0.5 pixel.

    Returns:
        ``(k, c, *output_shape)`` float32.

    Example:
        >>> import numpy as np, mge, mge.functional as F
        >>> x = mge.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
        >>> F.vision.roi_align(x, mge.tensor([[0, 0, 0, 4, 4]]), 1).numpy()
        array([[[[7.5]]]], dtype=float32)
    """
    fn = "roi_align"
    inp, rois = _rois(fn, inp, rois)
    ph, pw = _pair(fn, "output_shape", output_shape)
    sh, sw = _pair(fn, "sample_points", sample_points)
    op = ROIAlignForward(mode=_mode(fn, mode), spatial_scale=float(spatial_scale),
                         offset=0.5 if aligned else 0.0, pooled_height=ph, pooled_width=pw,
                         sample_height=sh, sample_width=sw)
    return apply(op, inp, rois)[0]


@traceable
def roi_pooling(
    inp: Tensor,
    rois: Tensor,
    output_shape: int | tuple[int, int],
    mode: str = "max",
    scale: float = 1.0,
) -> Tensor:
    """RoI pooling (Fast R-CNN): max (or mean) over the integer bins of each roi.

    Args:
        inp: ``(n, c, h, w)`` features.
        rois: ``(k, 5)`` rows ``(batch_index, x1, y1, x2, y2)``.
        output_shape: ``(height, width)`` of each pooled roi (an int: square).
        mode: "max" or "average".
        scale: scales the roi coordinates to the feature map (then rounded).

    Returns:
        ``(k, c, *output_shape)`` float32; empty bins are 0.

    Example:
        >>> import numpy as np, mge, mge.functional as F
        >>> x = mge.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
        >>> F.vision.roi_pooling(x, mge.tensor([[0, 0, 0, 3, 3]]), 2).numpy()[0, 0]
        array([[ 5.,  7.],
               [13., 15.]], dtype=float32)
    """
    fn = "roi_pooling"
    inp, rois = _rois(fn, inp, rois)
    op = ROIPoolingForward(mode=_mode(fn, mode), scale=float(scale),
                           dsize=_pair(fn, "output_shape", output_shape))
    return apply(op, inp, rois)[0]


@traceable
def correlation(
    data1: Tensor,
    data2: Tensor,
    kernel_size: int = 1,
    max_displacement: int = 1,
    stride1: int = 1,
    stride2: int = 1,
    pad_size: int = 0,
    is_multiply: bool = True,
) -> Tensor:
    """FlowNet correlation of two NCHW feature maps.

    Output channel ``c`` holds, for each position of ``data1`` (every ``stride1``), the
    mean over a ``kernel_size`` window and all channels of ``data1 * data2`` (or
    ``|data1 - data2|`` when ``is_multiply`` is False), ``data2`` displaced by grid cell
    ``c`` (displacements up to ``max_displacement`` in steps of ``stride2``).

    Returns:
        ``(n, (2 * (max_displacement // stride2) + 1) ** 2, oh, ow)`` float32.

    Example:
        >>> import numpy as np, mge, mge.functional as F
        >>> a = mge.tensor(np.ones((1, 2, 5, 5), np.float32))
        >>> F.vision.correlation(a, a, max_displacement=1, pad_size=1).shape
        (1, 9, 5, 5)
    """
    data1, data2 = as_tensor(data1), as_tensor(data2)
    if data1.shape != data2.shape or data1.ndim != 4:
        raise ValueError(f"correlation: data1 and data2 must be NCHW of one shape, got "
                         f"{data1.shape} and {data2.shape}")
    op = CorrelationForward(kernel_size=int(kernel_size), max_displacement=int(max_displacement),
                            stride1=int(stride1), stride2=int(stride2), pad_size=int(pad_size),
                            is_multiply=bool(is_multiply))
    return apply(op, data1, data2)[0]


@traceable
def deformable_psroi_pooling(
    inp: Tensor,
    rois: Tensor,
    trans: Tensor,
    no_trans: bool,
    part_size: int,
    pooled_h: int,
    pooled_w: int,
    sample_per_part: int,
    spatial_scale: float,
    trans_std: float = 0.1,
) -> Tensor:
    """Deformable RoI pooling (R-FCN / Deformable ConvNets), MegEngine's CPU semantics.

    Each output bin averages ``sample_per_part ** 2`` bilinear samples of its roi
    (samples outside the image are skipped); unless ``no_trans``, the bins of roi ``n``
    shift by ``trans[n, 0|1, part_h, part_w] * trans_std`` times the roi width/height.

    Args:
        inp: ``(n, c, h, w)`` float32 features.
        rois: ``(k, 5)`` rows ``(batch_index, x1, y1, x2, y2)`` (rounded, then scaled).
        trans: ``(k, 2, pooled_h, pooled_w)`` offsets (read unless ``no_trans``).
        no_trans: pool without offsets.
        part_size: parts per side of the offset grid.
        pooled_h, pooled_w: output bins per roi.
        sample_per_part: samples per bin side.
        spatial_scale: maps roi coordinates to the feature map.
        trans_std: offset multiplier.

    Returns:
        ``(k, c, pooled_h, pooled_w)`` float32.

    Example:
        >>> import numpy as np, mge, mge.functional as F
        >>> x = mge.tensor(np.ones((1, 2, 8, 8), np.float32))
        >>> rois = mge.tensor([[0, 1, 1, 5, 5]])
        >>> trans = mge.tensor(np.zeros((1, 2, 3, 3), np.float32))
        >>> F.deformable_psroi_pooling(x, rois, trans, False, 3, 3, 3, 2, 1.0).shape
        (1, 2, 3, 3)
    """
    fn = "deformable_psroi_pooling"
    inp, rois = _rois(fn, inp, rois)
    op = DeformablePSROIPoolingForward(
        no_trans=bool(no_trans), spatial_scale=float(spatial_scale), trans_std=float(trans_std),
        pooled_h=int(pooled_h), pooled_w=int(pooled_w), part_size=int(part_size),
        sample_per_part=int(sample_per_part))
    return apply(op, inp, rois, astype(as_tensor(trans), "float32"))[0]
