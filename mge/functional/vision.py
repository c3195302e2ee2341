"""Vision functions (MegEngine ``F.vision``).

``warp_perspective``, ``interpolate``, ``warp_affine``, ``remap`` and ``cvt_color`` are
here; ``nms``, ``roi_align``, ``roi_pooling`` and ``correlation`` come from
:mod:`mge.functional._detection`. Each builds the ops of :mod:`mge.ops.vision` exactly
as MegEngine 1.13 does, so traced
and dumped graphs hold the same operators: ``warp_perspective`` is one
``WarpPerspectiveForward``; ``interpolate`` is one ``ResizeForward`` (NCHW) unless
``align_corners=True``, which MegEngine implements as a ``WarpPerspectiveForward`` with a
scale matrix (here a single constant; MegEngine assembles it from concat/broadcast ops
of constants); mode "trilinear" is one ``Resize3DForward``. The output size, a var input
in MegEngine, is the ops' ``dsize`` param.

Example:
    >>> import numpy as np, mge, mge.functional as F
    >>> x = mge.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
    >>> M = mge.tensor([[[1.0, 0, 1], [0, 1, 1], [0, 0, 1]]])
    >>> F.vision.warp_perspective(x, M, (2, 2)).numpy()
    array([[[[ 5.,  6.],
             [ 9., 10.]]]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..core.apply import apply
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..ops.shape import AxisAddRemove, Reshape
from ..ops.vision import BORDER_MODES, FORMATS, INTERP_MODES, ResizeForward, WarpPerspectiveForward
from ..ops.vision.color import MODES as CVT_MODES
from ..ops.vision.color import CvtColorForward
from ..ops.vision.remap import RemapForward, WarpAffineForward
from ..ops.vision.resize3d import Resize3DForward
from ._args import concrete_ints
from ._detection import correlation, nms, roi_align, roi_pooling
from ._shape_source import scaled_hw, shape_source
from .elemwise import as_tensor, astype

__all__ = ["correlation", "cvt_color", "interpolate", "nms", "remap", "roi_align", "roi_pooling",
           "warp_affine", "warp_perspective"]

_INTERPOLATE_MODES = ("bilinear", "linear", "trilinear", "bicubic", "nearest")
_RESIZE_IMODE = {"linear": "LINEAR", "bilinear": "LINEAR", "nearest": "NEAREST",
                 "bicubic": "CUBIC"}


def _enum(fn: str, arg: str, value: Any, allowed: Sequence[str]) -> str:
    name = str(value).upper()
    if name not in allowed:
        choices = ", ".join(a.lower() for a in allowed)
        raise ValueError(f"{fn}: unknown {arg} {value!r}; expected one of {choices}")
    return name


def _dsize(fn: str, size: Any) -> tuple[int, int]:
    """``(height, width)`` from a pair of ints or a 2-element Tensor."""
    if isinstance(size, Tensor):
        size = size.numpy().tolist()
    try:
        h, w = (int(d) for d in size)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: output size must be (height, width), got {size!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"{fn}: output size must be positive, got {(h, w)}")
    return h, w


@traceable
def warp_perspective(
    inp: Tensor,
    mat: Tensor,
    out_shape: tuple[int, int] | Tensor,
    mat_idx: Iterable[int] | Tensor | None = None,
    border_mode: str = "replicate",
    border_val: float = 0.0,
    format: str = "NCHW",
    interp_mode: str = "linear",
) -> Tensor:
    r"""Perspective transformation of a batch of images.

    ``output(n, c, h, w) = input(n, c, (M00 w + M01 h + M02) / d, (M10 w + M11 h + M12) / d)``
    with ``d = M20 w + M21 h + M22``: ``mat`` maps output pixels to input positions (the
    inverse of the matrix ``cv2.warpPerspective`` takes).

    Args:
        inp: images, ``(n, c, h, w)`` (``format="NCHW"``) or ``(n, h, w, c)`` (``"NHWC"``).
        mat: ``(batch, 3, 3)`` matrices.
        out_shape: ``(h, w)`` of the output.
        mat_idx: for each matrix, the index of the image it samples (default: one matrix
            per image).
        border_mode: "replicate", "reflect", "reflect_101", "wrap" or "constant".
        border_val: the value outside the image for "constant".
        format: "NCHW" or "NHWC".
        interp_mode: "linear"; "nearest" only for NHWC images with 1-3 channels.

    Returns:
        the warped images with ``inp``'s dtype, ``(batch, c, *out_shape)`` (NCHW) or
        ``(batch, *out_shape, c)`` (NHWC).

    Example:
        >>> import numpy as np, mge, mge.functional as F
        >>> img = mge.tensor(np.zeros((1, 480, 640, 3), np.uint8))
        >>> scale = mge.tensor([[[640 / 224, 0, 0], [0, 480 / 224, 0], [0, 0, 1]]])
        >>> F.vision.warp_perspective(img, scale, (224, 224), format="NHWC").shape
        (1, 224, 224, 3)
    """
    fn = "warp_perspective"
    inp, mat = as_tensor(inp), as_tensor(mat)
    fmt = _enum(fn, "format", format, FORMATS)
    bmode = _enum(fn, "border_mode", border_mode, BORDER_MODES)
    imode = _enum(fn, "interp_mode", interp_mode, INTERP_MODES)
    if inp.ndim != 4:
        raise ValueError(f"{fn}: inp must be a 4-d {fmt} tensor, got shape {inp.shape}")
    if mat.ndim != 3 or mat.shape[1:] != (3, 3):
        raise ValueError(f"{fn}: mat must have shape (batch, 3, 3), got {mat.shape}")
    inputs = [inp, mat]
    if mat_idx is not None:
        idx = as_tensor(mat_idx if isinstance(mat_idx, Tensor) else np.asarray(mat_idx, np.int32))
        if idx.shape != (mat.shape[0],):
            raise ValueError(f"{fn}: mat_idx must have shape ({mat.shape[0]},) to match mat "
                             f"{mat.shape}, got {idx.shape}")
        inputs.append(astype(idx, "int32"))
    elif inp.shape[0] != mat.shape[0]:
        raise ValueError(f"{fn}: inp {inp.shape} and mat {mat.shape} differ in batch size; "
                         "pass mat_idx to map matrices to images")
    if inp.dtype == np.float16:
        inp = inputs[0] = astype(inp, "float32")
    inputs[1] = astype(mat, "float32")
    op = WarpPerspectiveForward(imode=imode, bmode=bmode, format=fmt,
                                border_val=float(border_val), dsize=_dsize(fn, out_shape))
    return apply(op, *inputs)[0]


def _interpolate_size(fn: str, shape: tuple[int, ...], size: Any, scale_factor: Any,
                      mode: str) -> tuple[int, ...]:
    """The output's spatial size (2 entries; 3 for "trilinear") as MegEngine derives it."""
    n = 3 if mode == "trilinear" else 2
    if size is None:
        if scale_factor is None:
            raise ValueError(f"{fn}: scale_factor must not be None when size is None")
        if isinstance(scale_factor, (int, float)):
            scale_factor = (float(scale_factor),) + (
                (1.0,) if mode == "linear" else (float(scale_factor),) * (n - 1))
        elif mode == "linear":
            raise ValueError(f"{fn}: under linear mode, scale_factor can only be single value")
        if len(scale_factor) != n or not all(isinstance(s, (int, float)) for s in scale_factor):
            raise ValueError(f"{fn}: scale_factor must be a number or {n} numbers for mode "
                             f"{mode!r}, got {scale_factor!r}")
        # MegEngine: floor(float32(size * scale))
        return tuple(int(np.floor(np.float32(shape[k + 2] * float(s))))
                     for k, s in enumerate(scale_factor))
    if scale_factor is not None:
        raise ValueError(f"{fn}: scale_factor must be None when size is provided")
    if isinstance(size, int):
        return (size,) + (1,) * (n - 1)
    if mode == "linear":
        raise ValueError(f"{fn}: under linear mode, size can only be single value")
    if n == 2:
        return _dsize(fn, size)
    if isinstance(size, Tensor):
        size = size.numpy().tolist()
    dsize = tuple(int(d) for d in size)
    if len(dsize) != 3 or min(dsize) <= 0:
        raise ValueError(f"{fn}: trilinear output size must be 3 positive ints, got {size!r}")
    return dsize


def _pair_of(scale: Any) -> tuple[float, float]:
    """A checked ``scale_factor`` (a number or two) as two floats."""
    return (float(scale),) * 2 if isinstance(scale, (int, float)) else (
        float(scale[0]), float(scale[1]))


@traceable
def interpolate(
    inp: Tensor,
    size: int | tuple[int, int] | None = None,
    scale_factor: float | tuple[float, float] | None = None,
    mode: str = "bilinear",
    align_corners: bool | None = None,
) -> Tensor:
    """Resize a batch of NCHW images to ``size`` or by ``scale_factor`` (one of the two).

    Args:
        inp: ``(n, c, h, w)`` images (``(n, c, w)`` for ``mode="linear"``).
        size: output ``(h, w)`` (an int ``s`` means ``(s, 1)``; for "linear", the width).
        scale_factor: output size = floor(input size * factor), per axis or for both.
        mode: "bilinear", "linear", "bicubic" or "nearest" ("trilinear" is not implemented).
        align_corners: bilinear/linear only. False (default): pixel centers aligned
            (``ResizeForward``); True: corner pixels aligned (a ``WarpPerspectiveForward``).

    Returns:
        the resized images.

    Example:
        >>> import numpy as np, mge, mge.functional as F
        >>> x = mge.tensor(np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2))
        >>> F.vision.interpolate(x, [4, 4], align_corners=False).numpy()[0, 0, 0]
        array([1.  , 1.25, 1.75, 2.  ], dtype=float32)
    """
    fn = "interpolate"
    inp = as_tensor(inp)
    mode = str(mode).lower()
    if mode not in _INTERPOLATE_MODES:
        raise ValueError(f"{fn}: unsupported interpolate mode {mode!r}; expected one of "
                         f"{', '.join(_INTERPOLATE_MODES)}")
    if mode not in ("bilinear", "linear", "trilinear") and align_corners is not None:
        raise ValueError(f"{fn}: align_corners option can only be set in the bilinear/linear "
                         "interpolating mode")
    want = {"linear": 3, "trilinear": 5}.get(mode, 4)
    if inp.ndim != want:  # MegEngine asserts
        raise AssertionError(f"{fn}: mode {mode!r} needs a {want}-d input, got shape "
                             f"{inp.shape}")
    if mode == "linear":
        inp = apply(AxisAddRemove(desc=(("ADD_1", 3),)), inp)[0]
    if mode == "trilinear":
        dsize = _interpolate_size(fn, inp.shape, concrete_ints(size), scale_factor, mode)
        if inp.dtype == np.float16:
            inp = astype(inp, "float32")
        op3 = Resize3DForward(format="NCDHW", align_corners=bool(align_corners), dsize=dsize)
        return apply(op3, inp)[0]
    oh, ow = _interpolate_size(fn, inp.shape, concrete_ints(size), scale_factor, mode)
    if not align_corners:
        if inp.dtype == np.float16:
            inp = astype(inp, "float32")
        op = ResizeForward(imode=_RESIZE_IMODE[mode], format="NCHW", dsize=(oh, ow))
        # traced: the size var the output size follows (x.shape-based size or scale)
        source = None if mode == "linear" else shape_source(size) if size is not None \
            else scaled_hw(inp, _pair_of(scale_factor))
        out = apply(op, inp, *([source] if source is not None else []))[0]
    else:
        ih, iw = inp.shape[2:]
        if oh == 1 or (ow == 1 and mode != "linear"):
            raise ValueError(f"{fn}: align_corners=True needs an output size > 1 "
                             f"(got {(oh, ow)})")
        wscale = iw / ow if mode == "linear" else (iw - 1.0) / (ow - 1.0)
        mat = np.array([[wscale, 0, 0], [0, (ih - 1.0) / (oh - 1.0), 0], [0, 0, 1]], np.float32)
        mat = Tensor(np.broadcast_to(mat, (inp.shape[0], 3, 3)), device=inp.device)
        out = warp_perspective(inp, mat, (oh, ow), interp_mode="linear")
    if mode == "linear":
        out = apply(Reshape(shape=out.shape[:3]), out)[0]
    return out


@traceable
def warp_affine(
    inp: Tensor,
    mat: Tensor,
    out_shape: tuple[int, int] | Tensor,
    border_mode: str = "replicate",
    border_val: float = 0.0,
    format: str = "NHWC",
    interp_mode: str = "linear",
) -> Tensor:
    """Batched affine warp: output pixel ``(x, y)`` samples the input at
    ``(M[0, 0] x + M[0, 1] y + M[0, 2], M[1, 0] x + M[1, 1] y + M[1, 2])``.

    Args:
        inp: images, ``(n, h, w, c)`` (``format="NHWC"``, the default) or ``(n, c, h, w)``.
        mat: ``(n, 2, 3)`` matrices.
        out_shape: ``(h, w)`` of the output.
        border_mode: "replicate", "reflect", "reflect_101", "wrap" or "constant".
        border_val: the value outside the image for "constant".
        format: "NHWC" or "NCHW".
        interp_mode: "linear"; "nearest" for NHWC float32/uint8 images with 1-3 channels.

    Returns:
        the warped images with ``inp``'s dtype.

    Example:
        >>> import numpy as np, mge, mge.functional as F
        >>> img = mge.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
        >>> shift = mge.tensor([[[1.0, 0, 1], [0, 1, 0]]])
        >>> F.vision.warp_affine(img, shift, (1, 3)).numpy().ravel()
        array([1., 2., 3.], dtype=float32)
    """
    fn = "warp_affine"
    inp, mat = as_tensor(inp), as_tensor(mat)
    fmt = _enum(fn, "format", format, FORMATS)
    if inp.ndim != 4:
        raise ValueError(f"{fn}: inp must be a 4-d {fmt} tensor, got shape {inp.shape}")
    if mat.shape != (inp.shape[0], 2, 3):
        raise ValueError(f"{fn}: mat must have shape ({inp.shape[0]}, 2, 3), got {mat.shape}")
    op = WarpAffineForward(imode=_enum(fn, "interp_mode", interp_mode, INTERP_MODES),
                           border_mode=_enum(fn, "border_mode", border_mode, BORDER_MODES),
                           border_val=float(border_val), format=fmt,
                           dsize=_dsize(fn, out_shape))
    return apply(op, inp, astype(mat, "float32"))[0]


@traceable
def remap(
    inp: Tensor,
    map_xy: Tensor,
    border_mode: str = "replicate",
    scalar: float = 0.0,
    interp_mode: str = "linear",
) -> Tensor:
    """Sample each output pixel of a batch of NCHW images at its own input position.

    Args:
        inp: ``(n, c, h, w)`` images.
        map_xy: ``(n, oh, ow, 2)``: ``map_xy[..., 0]`` is the input column (x),
            ``map_xy[..., 1]`` the row (y).
        border_mode: "replicate", "reflect", "reflect_101", "wrap" or "constant".
        scalar: the value outside the image for "constant".
        interp_mode: "linear" or "nearest" (rounds half to even).

    Returns:
        ``(n, c, oh, ow)`` with ``inp``'s dtype.

    Example:
        >>> import numpy as np, mge, mge.functional as F
        >>> x = mge.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
        >>> grid = mge.tensor([[[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]]])
        >>> F.vision.remap(x, grid).numpy()
        array([[[[1., 4.],
                 [4., 4.]]]], dtype=float32)
    """
    fn = "remap"
    inp, map_xy = as_tensor(inp), as_tensor(map_xy)
    if inp.ndim != 4 or map_xy.ndim != 4 or map_xy.shape[-1] != 2:
        raise ValueError(f"{fn}: inp must be (n, c, h, w) and map_xy (n, oh, ow, 2), got "
                         f"{inp.shape} and {map_xy.shape}")
    op = RemapForward(imode=_enum(fn, "interp_mode", interp_mode, INTERP_MODES),
                      border_type=_enum(fn, "border_mode", border_mode, BORDER_MODES),
                      format="NCHW", scalar=float(scalar))
    return apply(op, inp, astype(map_xy, "float32"))[0]


@traceable
def cvt_color(inp: Tensor, mode: str = "") -> Tensor:
    """Convert NHWC images from one colour format to another.

    Args:
        inp: ``(n, h, w, c)`` uint8 or float32 images (YUV 4:2:0 modes: the planes
            stacked as ``(n, h * 3 / 2, w, 1)``).
        mode: one of MegEngine's ``CvtColor`` modes, e.g. "RGB2GRAY", "BGR2RGB",
            "RGB2YUV", "YUV2RGB", "GRAY2RGB", "RGBA2BGR", "YUV2BGR_NV21",
            "BT601_YUV2RGB_NV12". float32 takes RGB2GRAY, BGR2GRAY, RGB2YUV, YUV2RGB and
            GRAY2RGB.

    Returns:
        the converted images with ``inp``'s dtype.

    Example:
        >>> import numpy as np, mge, mge.functional as F
        >>> x = mge.tensor(np.array([[[[-0.58675045, 1.7526233, 0.10702174]]]], np.float32))
        >>> F.vision.cvt_color(x, mode="RGB2GRAY").numpy()
        array([[[[0.86555195]]]], dtype=float32)
    """
    name = str(mode) if "YCrCb" in str(mode) else str(mode).upper()
    if name not in CVT_MODES:
        raise ValueError(f"cvt_color: unsupported mode {mode!r}; expected one of "
                         f"{', '.join(CVT_MODES)}")
    return apply(CvtColorForward(mode=name), as_tensor(inp))[0]
