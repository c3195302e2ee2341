"""Vision ops: ``WarpPerspectiveForward`` and ``ResizeForward`` (MegEngine param v2).

MegEngine passes the output size of both ops as an extra input var; here it is the
param ``dsize = (height, width)`` and the ``.mge`` reader/writer converts between the two.

MegEngine 1.13 runs these ops on two kernels with different numerics, picked by layout
and dtype; the kernels here reproduce both, and :func:`warp_uses_cv_kernel` /
:func:`resize_uses_cv_kernel` tell which one applies:

- the *dnn* kernel (NCHW, or NHWC with other channel counts or dtypes) computes the
  sampling position in float32 and rounds integer outputs to nearest (ties away from 0);
- the *cv* kernel (NHWC with 1-3 channels for warp, 1 or 3 for resize, float32 or uint8
  data; the docs' preprocessing path) is MegEngine's port of OpenCV: warp positions are
  quantized to 1/32 pixel, uint8 warp sums are fixed point, uint8 resize truncates.

``WarpPerspectiveForward``'s ``mat`` maps *output* pixel ``(x, y)`` to the input position
``(M[0]x + M[1]y + M[2], M[3]x + M[4]y + M[5]) / (M[6]x + M[7]y + M[8])``, in pixel
units with pixel ``(0, 0)`` at position ``(0, 0)`` (the inverse of ``cv2.warpPerspective``).

Example:
    >>> op = WarpPerspectiveForward(format="NHWC", dsize=(224, 224))
    >>> op.infer([TensorInfo((1, 480, 640, 3), U8), TensorInfo((1, 3, 3), F32)])[0].shape
    (1, 224, 224, 3)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op
from ..shape import resolved, shape_from_source

F32 = np.dtype("float32")
F16 = np.dtype("float16")
U8 = np.dtype("uint8")
I8 = np.dtype("int8")
I32 = np.dtype("int32")

#: MegEngine's ``InterpolationMode`` and ``BorderMode`` members (shared by both ops)
INTERP_MODES = ("NEAREST", "LINEAR", "AREA", "CUBIC", "LANCZOS4")
BORDER_MODES = ("REPLICATE", "REFLECT", "REFLECT_101", "WRAP", "CONSTANT", "TRANSPARENT",
                "ISOLATED")
#: the ``Format`` members mge implements for these ops (MegEngine has more)
FORMATS = ("NCHW", "NHWC")
DTYPES = (F32, F16, U8, I8)
CV_DTYPES = (F32, U8)


def _out_shape(fmt: str, n: int, src: tuple[int, ...], dsize: tuple[int, int]) -> tuple:
    if fmt == "NCHW":
        return (n, src[1], dsize[0], dsize[1])
    return (n, dsize[0], dsize[1], src[3])


def warp_uses_cv_kernel(op: WarpPerspectiveForward, src: TensorInfo) -> bool:
    """True when MegEngine runs ``op`` on ``src`` with its OpenCV-derived kernel."""
    return (op.format == "NHWC" and src.shape[3] in (1, 2, 3) and src.dtype in CV_DTYPES
            and op.imode in ("NEAREST", "LINEAR", "CUBIC", "LANCZOS4"))


def resize_uses_cv_kernel(op: ResizeForward, src: TensorInfo) -> bool:
    """True when MegEngine runs ``op`` on ``src`` with its OpenCV-derived kernel."""
    return op.format == "NHWC" and src.shape[3] in (1, 3) and src.dtype in CV_DTYPES


class _ImageOp(OpDef):
    """Shared checks of the two ops: enums, ``dsize`` and the 4-d ``src``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dsize", tuple(self.dsize))  # type: ignore[attr-defined]

    def check_src(self, src: TensorInfo, inputs: Sequence[TensorInfo]) -> None:
        check_enum(self, "imode", INTERP_MODES)
        check_enum(self, "format", FORMATS)
        dsize = self.dsize  # type: ignore[attr-defined]
        if len(dsize) != 2 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in dsize):
            self.fail(f"dsize must be (height, width) with positive ints, got {dsize!r}", inputs)
        if src.ndim != 4:
            self.fail(f"src must be 4-d {self.format}, got {src.ndim}-d", inputs)  # type: ignore
        if 0 in src.shape:
            self.fail("src must not be empty", inputs)
        if src.dtype not in DTYPES:
            self.fail(f"src dtype {src.dtype} not supported "
                      f"(expected one of {', '.join(map(str, DTYPES))})", inputs)


@register_op
class WarpPerspectiveForward(_ImageOp):
    """Perspective warp of a batch of images (MegEngine ``WarpPerspective`` param v2).

    Inputs: ``src`` (4-d, ``format``), ``mat`` (``N, 3, 3`` float32) and optionally
    ``mat_idx`` (``N`` int32: the src image each matrix samples). ``dsize`` is the
    output ``(height, width)``; MegEngine passes it as an input var.
    """

    type_name = "WarpPerspectiveForward"
    float32_inputs = (1,)  # the matrix stays float32 in float16 graphs, as in MegEngine
    memory = Memory.FRESH
    mge_form = MgeForm("WarpPerspectiveV2", ("WarpPerspective",),
                       static=(("dsize", "pair"),))
    nr_inputs = (2, 3)
    imode: str = "LINEAR"
    bmode: str = "REPLICATE"
    format: str = "NCHW"
    border_val: float = 0.0
    dsize: tuple[int, int] = (0, 0)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        src, mat = inputs[0], inputs[1]
        self.check_src(src, inputs)
        check_enum(self, "bmode", BORDER_MODES)
        if mat.ndim != 3 or mat.shape[1:] != (3, 3):
            self.fail(f"mat must have shape (N, 3, 3), got {mat.shape}", inputs)
        if mat.dtype != F32 and not (mat.dtype == F16 == src.dtype):
            self.fail(f"mat must be float32, got {mat.dtype}", inputs)
        if len(inputs) == 3:
            idx = inputs[2]
            if idx.shape != (mat.shape[0],) or idx.dtype != I32:
                self.fail(f"mat_idx must be int32 of shape ({mat.shape[0]},), "
                          f"got {idx}", inputs)
        elif src.shape[0] != mat.shape[0]:
            self.fail(f"batch of src ({src.shape[0]}) and mat ({mat.shape[0]}) differ; "
                      "pass mat_idx to map matrices to images", inputs)
        if self.bmode in ("TRANSPARENT", "ISOLATED"):
            self.fail(f"bmode {self.bmode} is not supported (MegEngine rejects it too)", inputs)
        if warp_uses_cv_kernel(self, src):
            if self.imode not in ("NEAREST", "LINEAR"):
                self.fail(f"imode {self.imode} is not implemented in mge", inputs)
        elif self.imode != "LINEAR":
            self.fail(f"imode {self.imode} is not supported for this src: only LINEAR is, "
                      "and NEAREST for NHWC float32/uint8 with 1-3 channels", inputs)
        return [TensorInfo(_out_shape(self.format, mat.shape[0], src.shape, self.dsize),
                           src.dtype)]


@register_op
class ResizeForward(_ImageOp):
    """Resize a batch of images (MegEngine ``Resize`` param v2; pixel centers aligned).

    ``dsize`` is the output ``(height, width)``; MegEngine passes it as an input var. A
    traced ``interpolate`` whose size follows the input's (``scale_factor``, or a size read
    from ``x.shape``) keeps that var as input 1 beside the static ``dsize``
    (:mod:`mge.graph.static_values`).
    """

    type_name = "ResizeForward"
    format_rule = "first"
    memory = Memory.FRESH
    mge_form = MgeForm("ResizeV2", ("Resize",), static=(("dsize", "pair"),))
    nr_inputs = (1, 2)
    imode: str = "LINEAR"
    format: str = "NHWC"
    dsize: tuple[int, int] = (0, 0)

    def with_sources(self, values: Sequence[np.ndarray]) -> ResizeForward:
        """This op with ``dsize`` taken from the value of its size input (input 1)."""
        size = shape_from_source(self, values[0])
        if len(size) != 2:
            self.fail(f"the size input must have 2 entries, got {size}")
        return dataclasses.replace(self, dsize=size)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if len(inputs) == 2:
            return resolved(self, inputs).infer(inputs[:1])
        (src,) = inputs
        self.check_src(src, inputs)
        cv = resize_uses_cv_kernel(self, src)
        supported = ("NEAREST", "LINEAR") if cv or self.format == "NHWC" else (
            "NEAREST", "LINEAR", "CUBIC")
        if self.imode not in supported:
            self.fail(f"imode {self.imode} is not implemented in mge for this layout "
                      f"(supported: {', '.join(supported)})", inputs)
        out = _out_shape(self.format, src.shape[0], src.shape, self.dsize)
        if cv and self.imode == "LINEAR" and min(src.shape[1:3] + out[1:3]) < 2:
            self.fail("LINEAR resize of NHWC images with 1 or 3 channels needs input and "
                      "output height and width >= 2 (as in MegEngine)", inputs)
        return [TensorInfo(out, src.dtype)]


# the detection, remap, colour and 3-d resize ops of the family, and the gradient rules
# (reverse-mode autodiff: mge.core.autodiff)
from . import color, detection, grad, grad_color, remap, resize3d  # noqa: E402,F401
