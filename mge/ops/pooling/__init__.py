"""Pooling ops: ``PoolingForward``, ``AdaptivePoolingForward`` (2-d, NCHW or NHWC) and the
max-pooling gradient ``PoolingBackward``.

``PoolingForward`` has MegEngine's ``Pooling`` (v1) fields. Padding is symmetric; padded
cells never win a ``MAX`` and count as zeros for ``AVERAGE`` (divide by the window
size), while ``AVERAGE_COUNT_EXCLUDE_PADDING`` divides by the number of real cells.

``AdaptivePoolingForward`` is MegEngine's ``AdaptivePooling``: a ``Pooling`` whose window
and stride follow from the input and output sizes (``stride = in // out``,
``window = in - (out - 1) * stride``, no padding: *not* torch's variable windows). In a
MegEngine graph the target shape is a second input var; here it is the ``oshp`` param
and the ``.mge`` reader/writer converts between the two.

``PoolingBackward`` (inputs ``src, dst, diff``, MegEngine's order) gives each window's
gradient to *every* cell equal to the window's maximum, as MegEngine 1.13 does (torch
gives it to the first one only); a NaN cell equals nothing and gets none.

Example:
    >>> import numpy as np
    >>> op = PoolingForward(mode="MAX", window_h=3, window_w=3, pad_h=1, pad_w=1)
    >>> op.infer([TensorInfo((1, 8, 112, 112), np.dtype("float32"))])[0].shape
    (1, 8, 56, 56)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op
from ...dtype import is_quantize
from ..conv import CONV_FORMATS, FLOAT_DTYPES, conv_out_size

POOLING_MODES = ("MAX", "AVERAGE", "AVERAGE_COUNT_EXCLUDE_PADDING")


def adaptive_window(in_size: int, out_size: int) -> tuple[int, int]:
    """MegEngine's adaptive pooling ``(window, stride)`` for one spatial axis."""
    stride = in_size // out_size
    return in_size - (out_size - 1) * stride, stride


def spatial_size(op: PoolingParams | AdaptivePoolingForward, shape: Sequence[int]
                 ) -> tuple[int, int]:
    """``(H, W)`` of a 4-d ``shape`` in the op's format."""
    return (shape[2], shape[3]) if op.format == "NCHW" else (shape[1], shape[2])


def _check_src(op: PoolingParams | AdaptivePoolingForward, inputs: Sequence[TensorInfo]
               ) -> tuple[int, int]:
    """Validate mode/format and the 4-d float src; return its spatial size."""
    check_enum(op, "mode", POOLING_MODES)
    check_enum(op, "format", CONV_FORMATS)
    src = inputs[0]
    if src.ndim != 4:
        op.fail(f"src must be 4-d ({op.format}), got {src.ndim}-d", inputs)
    if src.dtype not in FLOAT_DTYPES and not (is_quantize(src.dtype) and src.dtype.itemsize == 1):
        op.fail("src must be float32, float16 or 8-bit quantized", inputs)
    return spatial_size(op, src.shape)


def _with_spatial(op: OpDef, src: TensorInfo, hw: tuple[int, int]) -> TensorInfo:
    shape = src.shape
    out = shape[:2] + hw if op.format == "NCHW" else (shape[0], *hw, shape[3])
    return TensorInfo(out, src.dtype)


@dataclasses.dataclass(frozen=True)
class PoolingParams(OpDef):
    """MegEngine's ``Pooling`` (v1) param, shared by the pooling ops that take it."""

    mode: str = "MAX"
    pad_h: int = 0
    pad_w: int = 0
    stride_h: int = 2
    stride_w: int = 2
    window_h: int = 2
    window_w: int = 2
    format: str = "NCHW"

    def pooled(self, inputs: Sequence[TensorInfo]) -> TensorInfo:
        """The pooled shape of the src ``inputs[0]`` (validated)."""
        ih, iw = _check_src(self, inputs)
        if min(self.window_h, self.window_w, self.stride_h, self.stride_w) < 1:
            self.fail("window and stride must be >= 1", inputs)
        if not (0 <= self.pad_h < self.window_h and 0 <= self.pad_w < self.window_w):
            self.fail("padding must be >= 0 and smaller than the window", inputs)
        oh = conv_out_size(ih, self.window_h, self.stride_h, self.pad_h)
        ow = conv_out_size(iw, self.window_w, self.stride_w, self.pad_w)
        if oh < 1 or ow < 1:
            self.fail("the window is larger than the padded input", inputs)
        return _with_spatial(self, inputs[0], (oh, ow))


@register_op
class PoolingForward(PoolingParams):
    """Max or average pooling over ``window_h x window_w`` windows (MegEngine ``Pooling`` v1)."""

    type_name = "PoolingForward"
    format_rule = "first"
    memory = Memory.FRESH
    mge_form = MgeForm("PoolingV1", ("Pooling",))
    nr_inputs = (1,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        return [self.pooled(inputs)]

    def covers_input(self, shape: Sequence[int]) -> bool:
        """Whether one unpadded window covers the whole spatial extent of ``shape`` (a
        global pooling)."""
        return (self.pad_h, self.pad_w) == (0, 0) and \
            (self.window_h, self.window_w) == spatial_size(self, shape)


@register_op
class AdaptivePoolingForward(OpDef):
    """Pool to a fixed output size ``oshp = (OH, OW)`` (MegEngine ``AdaptivePooling``)."""

    type_name = "AdaptivePoolingForward"
    format_rule = "first"
    memory = Memory.FRESH
    mge_form = MgeForm("AdaptivePoolingV1", ("AdaptivePooling",),
                       static=(("oshp", "pair"),))
    nr_inputs = (1,)
    mode: str = "MAX"
    format: str = "NCHW"
    oshp: tuple[int, int] = (1, 1)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        ih, iw = _check_src(self, inputs)
        if len(self.oshp) != 2:
            self.fail(f"oshp must be (OH, OW), got {self.oshp!r}", inputs)
        oh, ow = (int(s) for s in self.oshp)
        if not (1 <= oh <= ih and 1 <= ow <= iw):
            self.fail(f"output size {(oh, ow)} must be within 1..input size {(ih, iw)}", inputs)
        return [_with_spatial(self, inputs[0], (oh, ow))]

    def as_pooling(self, shape: Sequence[int]) -> PoolingForward:
        """The equivalent ``PoolingForward`` for an input of ``shape`` (in this format)."""
        in_hw = spatial_size(self, shape)
        (wh, sh), (ww, sw) = (adaptive_window(i, o) for i, o in zip(in_hw, self.oshp, strict=True))
        return PoolingForward(mode=self.mode, stride_h=sh, stride_w=sw, window_h=wh,
                              window_w=ww, format=self.format)


@register_op
class PoolingBackward(PoolingParams):
    """The gradient of a ``MAX`` ``PoolingForward`` w.r.t. its src (MegEngine
    ``PoolingBackward``): inputs ``src, dst, diff``, the forward's input and output and
    the output's gradient. Average pooling's gradient is a transposed convolution (see
    the grad rule); this op refuses those modes."""

    type_name = "PoolingBackward"
    memory = Memory.FRESH
    mge_form = MgeForm("PoolingBackwardV1", ("Pooling",))
    nr_inputs = (3,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        out = self.pooled(inputs)
        if self.mode != "MAX":
            self.fail(f"mge computes mode MAX only, not {self.mode}", inputs)
        for name, t in zip(("dst", "diff"), inputs[1:], strict=True):
            if t.shape != out.shape or t.dtype != out.dtype:
                self.fail(f"{name} must be {out.dtype}{list(out.shape)}, the pooled src", inputs)
        return [TensorInfo(inputs[0].shape, inputs[0].dtype)]


# gradient rules (reverse-mode autodiff: mge.core.autodiff)
from . import grad  # noqa: E402,F401
