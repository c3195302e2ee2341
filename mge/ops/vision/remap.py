"""Image remapping ops: ``WarpAffineForward`` and ``RemapForward`` (MegEngine 1.13).

- ``WarpAffineForward`` (MegEngine ``WarpAffine`` param): ``src`` (``format``) and
  ``mat`` ``(n, 2, 3)`` float32, mapping output pixel ``(x, y)`` to the input position
  ``(M[0]x + M[1]y + M[2], M[3]x + M[4]y + M[5])``. MegEngine passes the output size as
  an input var; here it is the param ``dsize = (height, width)``.
- ``RemapForward`` (MegEngine ``Remap`` param): ``src`` and ``map_xy`` ``(n, oh, ow, 2)``
  float32 holding, per output pixel, the input ``(x, y)`` position.

Example:
    >>> op = WarpAffineForward(dsize=(32, 48))
    >>> op.infer([TensorInfo((2, 64, 64, 3), U8), TensorInfo((2, 2, 3), F32)])[0].shape
    (2, 32, 48, 3)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op
from . import BORDER_MODES, DTYPES, F32, FORMATS, INTERP_MODES, U8


def _check_src(op: OpDef, src: TensorInfo, inputs: Sequence[TensorInfo]) -> None:
    if src.ndim != 4:
        op.fail(f"src must be 4-d {op.format}, got {src.ndim}-d", inputs)  # type: ignore
    if 0 in src.shape:
        op.fail("src must not be empty", inputs)
    if src.dtype not in DTYPES:
        op.fail(f"src dtype {src.dtype} not supported "
                f"(expected one of {', '.join(map(str, DTYPES))})", inputs)


def _out_shape(fmt: str, n: int, src: tuple[int, ...], hw: tuple[int, int]) -> tuple:
    return (n, src[1], *hw) if fmt == "NCHW" else (n, *hw, src[3])


@register_op
class WarpAffineForward(OpDef):
    """Affine warp of a batch of images (MegEngine ``WarpAffine`` param v2)."""

    type_name = "WarpAffineForward"
    format_rule = "first"
    memory = Memory.FRESH
    mge_form = MgeForm("WarpAffineV2", ("WarpAffine",), static=(("dsize", "pair"),))
    nr_inputs = (2,)
    imode: str = "LINEAR"
    border_mode: str = "REPLICATE"
    border_val: float = 0.0
    format: str = "NHWC"
    dsize: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dsize", tuple(self.dsize))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        src, mat = inputs
        check_enum(self, "imode", INTERP_MODES)
        check_enum(self, "border_mode", BORDER_MODES)
        check_enum(self, "format", FORMATS)
        _check_src(self, src, inputs)
        if len(self.dsize) != 2 or not all(isinstance(d, (int, np.integer)) and d > 0
                                           for d in self.dsize):
            self.fail(f"dsize must be (height, width) with positive ints, got {self.dsize!r}",
                      inputs)
        if mat.shape != (src.shape[0], 2, 3) or mat.dtype != F32:
            self.fail(f"mat must be float32 of shape ({src.shape[0]}, 2, 3), got {mat}", inputs)
        if self.border_mode in ("TRANSPARENT", "ISOLATED"):
            self.fail(f"border_mode {self.border_mode} is not implemented in mge", inputs)
        cv = (self.format == "NHWC" and src.shape[3] in (1, 2, 3) and src.dtype in (F32, U8))
        if self.imode not in (("NEAREST", "LINEAR") if cv else ("LINEAR",)):
            self.fail(f"imode {self.imode} is not supported for this src: LINEAR is, and "
                      "NEAREST for NHWC float32/uint8 with 1-3 channels", inputs)
        return [TensorInfo(_out_shape(self.format, src.shape[0], src.shape, self.dsize),
                           src.dtype)]


@register_op
class RemapForward(OpDef):
    """Remap a batch of images through per-pixel source positions (MegEngine ``Remap``)."""

    type_name = "RemapForward"
    memory = Memory.FRESH
    mge_form = MgeForm("RemapV1", ("Remap",))
    nr_inputs = (2,)
    imode: str = "LINEAR"
    border_type: str = "REPLICATE"
    format: str = "NHWC"
    scalar: float = 0.0

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        src, map_xy = inputs
        check_enum(self, "imode", INTERP_MODES)
        check_enum(self, "border_type", BORDER_MODES)
        check_enum(self, "format", FORMATS)
        _check_src(self, src, inputs)
        if (map_xy.ndim != 4 or map_xy.shape[0] != src.shape[0] or map_xy.shape[3] != 2
                or map_xy.dtype != F32):
            self.fail(f"map_xy must be float32 of shape ({src.shape[0]}, oh, ow, 2), "
                      f"got {map_xy}", inputs)
        if self.imode not in ("NEAREST", "LINEAR"):
            self.fail(f"imode {self.imode} is not supported (MegEngine's CPU remap has "
                      "NEAREST and LINEAR)", inputs)
        if self.border_type in ("TRANSPARENT", "ISOLATED"):
            self.fail(f"border_type {self.border_type} is not supported", inputs)
        return [TensorInfo(_out_shape(self.format, src.shape[0], src.shape, map_xy.shape[1:3]),
                           src.dtype)]
