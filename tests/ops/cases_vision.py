"""Op-table cases for WarpPerspectiveForward and ResizeForward (both kernel families) and
Resize3DForward."""

from __future__ import annotations

import numpy as np

from mge.ops.vision import ResizeForward, WarpPerspectiveForward
from mge.ops.vision.resize3d import Resize3DForward

from .optable import OpCase, rand

BORDERS = ("REPLICATE", "REFLECT", "REFLECT_101", "WRAP", "CONSTANT")
# (format, src shape): NCHW and NHWC with 4 channels run the dnn kernel, NHWC 1-3 the cv one
LAYOUTS = (("NCHW", (2, 3, 6, 7)), ("NHWC", (2, 6, 7, 4)), ("NHWC", (2, 6, 7, 3)),
           ("NHWC", (1, 6, 7, 1)))


def _mat(n: int, seed: int = 0) -> np.ndarray:
    """Perspective matrices sampling well outside a 6x7 image."""
    m = np.tile(np.eye(3, dtype=np.float32), (n, 1, 1))
    m[:, :2, :2] += rand(n, 2, 2, low=-0.3, high=0.5, seed=seed)
    m[:, :2, 2] = rand(n, 2, low=-3, high=1, seed=seed + 1)
    m[:, 2, :2] = rand(n, 2, low=-0.03, high=0.03, seed=seed + 2)
    return m


def _image(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    if dtype == "uint8":
        return rand(*shape, dtype="uint8", low=0, high=255, seed=seed)
    return rand(*shape, seed=seed)


def _layout_id(fmt: str, shape: tuple[int, ...]) -> str:
    return fmt if fmt == "NCHW" else f"NHWC{shape[3]}"


CASES = [
    OpCase(WarpPerspectiveForward(bmode=bmode, format=fmt, border_val=3.7, dsize=(5, 8)),
           [_image(shape, dtype, seed=k), _mat(shape[0], seed=k)],
           id=f"Warp-{_layout_id(fmt, shape)}-{dtype}-{bmode}")
    for k, (fmt, shape) in enumerate(LAYOUTS)
    for dtype in ("float32", "uint8")
    for bmode in BORDERS
]
CASES += [
    OpCase(WarpPerspectiveForward(imode="NEAREST", bmode=bmode, format="NHWC", dsize=(5, 8)),
           [_image((2, 6, 7, 3), dtype), _mat(2, seed=5)],
           id=f"Warp-NHWC3-{dtype}-{bmode}-NEAREST")
    for dtype in ("float32", "uint8")
    for bmode in ("REPLICATE", "CONSTANT", "REFLECT_101")
]
CASES += [
    OpCase(WarpPerspectiveForward(format=fmt, dsize=(4, 5)),
           [_image(shape, "float32"), _mat(3, seed=9), np.array([1, 0, 1], np.int32)],
           id=f"Warp-mat_idx-{_layout_id(fmt, shape)}")
    for fmt, shape in (("NCHW", (2, 3, 6, 7)), ("NHWC", (2, 6, 7, 3)))
]
CASES += [
    OpCase(WarpPerspectiveForward(dsize=(3, 4)), [_image((1, 2, 4, 5), "float16"), _mat(1)],
           id="Warp-NCHW-float16", atol=1e-3, rtol=1e-3),
]
CASES += [
    OpCase(ResizeForward(imode=imode, format=fmt, dsize=dsize), [_image(shape, dtype)],
           id=f"Resize-{_layout_id(fmt, shape)}-{dtype}-{imode}-{dsize[0]}x{dsize[1]}")
    for fmt, shape in LAYOUTS
    for dtype in ("float32", "uint8")
    for imode in ("LINEAR", "NEAREST") + (("CUBIC",) if fmt == "NCHW" else ())
    for dsize in ((9, 4), (3, 11))
]
CASES += [
    OpCase(ResizeForward(format="NCHW", dsize=(3, 5)), [_image((1, 2, 1, 1), "float32")],
           id="Resize-NCHW-1x1-src"),
    # real MegEngine's traced interpolate(scale_factor=...) sizes Resize by a float32
    # floor(shape * scale)
    OpCase(ResizeForward(format="NCHW", dsize=(3, 5)),
           [_image((1, 2, 6, 10), "float32"), np.array([3, 5], np.float32)],
           id="Resize-NCHW-float-size-input"),
]
CASES += [
    OpCase(Resize3DForward(format="NCDHW", align_corners=ac, dsize=dsize),
           [rand(*shape, seed=4).astype(dtype)],
           id=f"Resize3D-{dtype}-{'x'.join(map(str, dsize))}-ac{ac}")
    for shape, dsize in (((2, 3, 3, 4, 5), (5, 3, 7)), ((1, 2, 4, 1, 3), (1, 2, 6)))
    for ac in (False, True)
    for dtype in ("float32", "float16")
]
