"""Op-table cases for the detection, remap and colour ops (NMSKeep, ROIAlign, ROIPooling,
Correlation, WarpAffine, Remap, CvtColor): every mode, border and kernel family."""

from __future__ import annotations

import numpy as np

from mge.ops.vision.color import CvtColorForward
from mge.ops.vision.detection import (
    CorrelationForward,
    CountPrefix,
    DeformablePSROIPoolingForward,
    NMSKeep,
    ROIAlignForward,
    ROIPoolingForward,
)
from mge.ops.vision.remap import RemapForward, WarpAffineForward

from .optable import OpCase, rand

BORDERS = ("REPLICATE", "REFLECT", "REFLECT_101", "WRAP", "CONSTANT")


def _boxes(n: int, seed: int) -> np.ndarray:
    corner = rand(n, 2, low=-5, high=30, seed=seed)
    return np.concatenate([corner, corner + rand(n, 2, low=-2, high=20, seed=seed + 1)], axis=1)


def _rois(n: int, seed: int) -> np.ndarray:
    idx = (rand(n, 1, low=0, high=1.99, seed=seed)).astype(np.int32).astype(np.float32)
    return np.concatenate([idx, _boxes(n, seed + 2) / 3], axis=1)


def _image(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    if dtype == "uint8":
        return rand(*shape, dtype="uint8", low=0, high=255, seed=seed)
    return rand(*shape, seed=seed)


def _affine(n: int, seed: int) -> np.ndarray:
    m = np.tile(np.eye(2, 3, dtype=np.float32), (n, 1, 1))
    m[:, :, :2] += rand(n, 2, 2, low=-0.3, high=0.3, seed=seed)
    m[:, :, 2] = rand(n, 2, low=-3, high=2, seed=seed + 1)
    return m


FEAT = rand(2, 3, 7, 8, seed=3)
CASES = [
    OpCase(NMSKeep(iou_thresh=t, max_output=m), [_boxes(12, seed=k)[None]],
           id=f"NMSKeep-{t}-{m}")
    for k, (t, m) in enumerate(((0.3, 12), (0.5, 4), (0.7, 20)))
]
CASES += [OpCase(NMSKeep(iou_thresh=0.5, max_output=3), [np.zeros((2, 0, 4), np.float32)],
                 id="NMSKeep-empty")]
CASES += [OpCase(CountPrefix(size=n), [rand(6, 2, seed=n), np.array([n], np.int32)],
                 id=f"CountPrefix-{n}") for n in (0, 4, 6)]
CASES += [
    OpCase(ROIAlignForward(mode=mode, spatial_scale=0.5, offset=offset, pooled_height=2,
                           pooled_width=3, sample_height=sh, sample_width=2),
           [FEAT, _rois(4, seed=5)], id=f"ROIAlign-{mode}-offset{offset}-sample{sh}")
    for mode in ("AVERAGE", "MAX") for offset in (0.0, 0.5) for sh in (0, 3)
]
CASES += [
    OpCase(ROIPoolingForward(mode=mode, scale=scale, dsize=(3, 2)), [FEAT, _rois(4, seed=7)],
           id=f"ROIPooling-{mode}-{scale}")
    for mode in ("MAX", "AVERAGE") for scale in (1.0, 0.37)
]
CASES += [OpCase(ROIPoolingForward(dsize=(2, 2)), [FEAT, np.zeros((0, 5), np.float32)],
                 id="ROIPooling-no-rois")]
CASES += [
    OpCase(DeformablePSROIPoolingForward(no_trans=no_trans, spatial_scale=0.7, trans_std=0.3,
                                         pooled_h=2, pooled_w=3, part_size=2,
                                         sample_per_part=spp),
           [FEAT, _rois(3, seed=11), rand(3, 2, 2, 3, seed=12)],
           id=f"DeformablePSROIPooling-notrans{no_trans}-spp{spp}")
    for no_trans in (True, False) for spp in (1, 3)
]
CASES += [
    OpCase(CorrelationForward(kernel_size=k, max_displacement=d, stride1=s1, stride2=s2,
                              pad_size=p, is_multiply=mul),
           [FEAT, rand(2, 3, 7, 8, seed=4)], id=f"Correlation-k{k}-d{d}-s{s1}{s2}-p{p}-{mul}")
    for k, d, s1, s2, p in ((1, 1, 1, 1, 0), (3, 2, 2, 1, 2)) for mul in (True, False)
]
CASES += [
    OpCase(WarpAffineForward(imode=imode, border_mode=bmode, border_val=4.6, format=fmt,
                             dsize=(5, 6)),
           [_image(shape, dtype, seed=2), _affine(2, seed=1)],
           id=f"WarpAffine-{fmt}{shape[-1]}-{dtype}-{bmode}-{imode}")
    for fmt, shape, imodes in (("NHWC", (2, 6, 7, 3), ("LINEAR", "NEAREST")),
                               ("NHWC", (2, 6, 7, 4), ("LINEAR",)),
                               ("NCHW", (2, 2, 6, 7), ("LINEAR",)))
    for dtype in ("float32", "uint8")
    for bmode in (BORDERS if dtype == "uint8" else ("REFLECT_101", "CONSTANT"))
    for imode in imodes
]
CASES += [
    OpCase(RemapForward(imode=imode, border_type=bmode, format=fmt, scalar=2.4),
           [_image(shape, dtype, seed=6), rand(2, 4, 5, 2, low=-3, high=10, seed=8)],
           id=f"Remap-{fmt}-{dtype}-{bmode}-{imode}")
    for fmt, shape in (("NCHW", (2, 3, 6, 7)), ("NHWC", (2, 6, 7, 3)))
    for dtype in ("float32", "uint8")
    for bmode in (BORDERS if fmt == "NCHW" else ("WRAP", "CONSTANT"))
    for imode in ("LINEAR", "NEAREST")
]
CASES += [
    OpCase(CvtColorForward(mode=mode), [_image(shape, dtype, seed=9)],
           id=f"CvtColor-{mode}-{dtype}")
    for mode, shape, dtypes in (
        ("RGB2GRAY", (1, 3, 6, 3), ("float32", "uint8")),
        ("BGR2GRAY", (1, 3, 6, 3), ("float32", "uint8")),
        ("RGB2YUV", (1, 3, 6, 3), ("float32", "uint8")),
        ("YUV2RGB", (1, 3, 6, 3), ("float32", "uint8")),
        ("GRAY2RGB", (1, 3, 6, 1), ("float32", "uint8")),
        ("RGBA2BGR", (1, 3, 6, 4), ("uint8",)),
        ("BGR2RGB", (1, 3, 6, 3), ("uint8",)),
        ("YUV2BGR_NV21", (1, 6, 6, 1), ("uint8",)),
        ("YUV2RGB_YU12", (1, 6, 6, 1), ("uint8",)),
        ("BT601_YUV2BGR_NV12", (1, 6, 6, 1), ("uint8",)),
        ("YUV2GRAY_YV12", (1, 6, 6, 1), ("uint8",)),
    )
    for dtype in dtypes
]
