"""Convolution ops: ``ConvolutionForward``, ``ConvBiasForward`` and the transposed
``ConvolutionBackwardData`` (2-d, NCHW or NHWC).

Params are MegEngine's ``Convolution`` (v2) and ``ConvBias`` (v4) fields. Filter layouts:

===========  ==========================  ==================================
sparse       NCHW filter                 NHWC filter
===========  ==========================  ==================================
``DENSE``    ``[oc, ic, kh, kw]``        ``[oc, kh, kw, ic]``
``GROUP``    ``[g, oc/g, ic/g, kh, kw]`` ``[g, oc/g, kh, kw, ic/g]``
===========  ==========================  ==================================

Padding is symmetric (``pad_h`` rows above and below); asymmetric padding is an explicit
``Padding`` op before the convolution. ``mode="CONVOLUTION"`` flips the kernel spatially.

Example:
    >>> op = ConvolutionForward(pad_h=1, pad_w=1)
    >>> op.infer([TensorInfo((1, 3, 8, 8), F32), TensorInfo((16, 3, 3, 3), F32)])[0].shape
    (1, 16, 8, 8)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..core.opdef import OpDef, TensorInfo, check_enum, register_op

F32 = np.dtype("float32")
CONV_MODES = ("CROSS_CORRELATION", "CONVOLUTION")
SPARSE_MODES = ("DENSE", "GROUP")
CONV_FORMATS = ("NCHW", "NHWC")
COMPUTE_MODES = ("DEFAULT", "FLOAT32")
NONLINE_MODES = ("IDENTITY", "RELU", "SIGMOID", "H_SWISH")
FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float16"))


class ConvGeometry(NamedTuple):
    """Sizes of one 2-d convolution, independent of the memory format."""

    batch: int
    in_channels: int
    in_hw: tuple[int, int]
    groups: int
    out_channels: int
    kernel_hw: tuple[int, int]
    out_hw: tuple[int, int]


def conv_out_size(size: int, kernel: int, stride: int, pad: int, dilate: int = 1) -> int:
    """Output length of a sliding window (MegEngine's ``infer_conv_shape``); -1 if none fits."""
    span = (kernel - 1) * dilate + 1
    if size + 2 * pad < span:
        return -1
    return (size + 2 * pad - span) // stride + 1



@dataclasses.dataclass(frozen=True)
class ConvBase(OpDef):
    """Fields and shape rules shared by the convolution ops (MegEngine ``Convolution`` v2)."""

    mode: str = "CROSS_CORRELATION"
    pad_h: int = 0
    pad_w: int = 0
    stride_h: int = 1
    stride_w: int = 1
    dilate_h: int = 1
    dilate_w: int = 1
    sparse: str = "DENSE"
    format: str = "NCHW"
    compute_mode: str = "DEFAULT"

    def unpack(
        self, inputs: Sequence[TensorInfo], data: TensorInfo, filt: TensorInfo
    ) -> tuple[int, int, tuple[int, int], tuple[int, int, int], tuple[int, int]]:
        """Validate params, a data tensor and the filter.

        Returns ``(batch, channels, (h, w), (groups, ocpg, icpg), (kh, kw))``.
        """
        check_enum(self, "mode", CONV_MODES)
        check_enum(self, "sparse", SPARSE_MODES)
        check_enum(self, "format", CONV_FORMATS)
        check_enum(self, "compute_mode", COMPUTE_MODES)
        if min(self.stride_h, self.stride_w, self.dilate_h, self.dilate_w) < 1:
            self.fail("stride and dilation must be >= 1", inputs)
        if min(self.pad_h, self.pad_w) < 0:
            self.fail("padding must be >= 0", inputs)
        if data.dtype not in FLOAT_DTYPES or filt.dtype != data.dtype:
            self.fail("data and filter must share one float dtype (float32 or float16)", inputs)
        if data.ndim != 4:
            self.fail(f"data must be 4-d ({self.format}), got {data.ndim}-d", inputs)
        group = self.sparse == "GROUP"
        if filt.ndim != (5 if group else 4):
            self.fail(f"{self.sparse} filter must be {5 if group else 4}-d", inputs)
        groups = filt.shape[0] if group else 1
        fshape = filt.shape[1:] if group else filt.shape
        if self.format == "NCHW":
            n, c, h, w = data.shape
            ocpg, icpg, kh, kw = fshape
        else:
            n, h, w, c = data.shape
            ocpg, kh, kw, icpg = fshape
        return n, c, (h, w), (groups, ocpg, icpg), (kh, kw)

    def geometry(self, inputs: Sequence[TensorInfo]) -> ConvGeometry:
        """Validate the forward inputs ``src, filter``; return the convolution's sizes."""
        n, ic, (ih, iw), (groups, ocpg, icpg), (kh, kw) = self.unpack(
            inputs, inputs[0], inputs[1])
        if icpg * groups != ic:
            self.fail(f"input has {ic} channels but the filter expects {icpg * groups}", inputs)
        oh = conv_out_size(ih, kh, self.stride_h, self.pad_h, self.dilate_h)
        ow = conv_out_size(iw, kw, self.stride_w, self.pad_w, self.dilate_w)
        if oh < 1 or ow < 1:
            self.fail("the (dilated) kernel is larger than the padded input", inputs)
        return ConvGeometry(n, ic, (ih, iw), groups, ocpg * groups, (kh, kw), (oh, ow))

    def layout(self, batch: int, channels: int, hw: tuple[int, int]) -> tuple[int, ...]:
        """A data shape in this op's format."""
        if self.format == "NCHW":
            return (batch, channels, *hw)
        return (batch, *hw, channels)


@register_op
class ConvolutionForward(ConvBase):
    """2-d convolution ``dst = conv(src, filter)`` (MegEngine ``Convolution`` param v2)."""

    type_name = "ConvolutionForward"
    nr_inputs = (2,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        geo = self.geometry(inputs)
        return [TensorInfo(self.layout(geo.batch, geo.out_channels, geo.out_hw), inputs[0].dtype)]


@register_op
class ConvBiasForward(ConvBase):
    """``dst = nonline(conv(src, filter) + bias + z)`` (MegEngine ``ConvBias`` param v4).

    Inputs: ``src, filter[, bias[, z]]``. ``bias`` is per channel (``(1, oc, 1, 1)`` in
    NCHW, ``(1, 1, 1, oc)`` in NHWC) or has dst's full shape; ``z`` has dst's shape.
    """

    type_name = "ConvBiasForward"
    nr_inputs = (2, 3, 4)
    nonlineMode: str = "IDENTITY"  # noqa: N815 - MegEngine field name

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "nonlineMode", NONLINE_MODES)
        geo = self.geometry(inputs)
        dst = self.layout(geo.batch, geo.out_channels, geo.out_hw)
        dtype = inputs[0].dtype
        oc = geo.out_channels
        channel = (1, oc, 1, 1) if self.format == "NCHW" else (1, 1, 1, oc)
        if len(inputs) > 2:
            bias = inputs[2]
            if bias.dtype != dtype:
                self.fail("bias must have the src dtype", inputs)
            if bias.shape not in (channel, dst):
                self.fail(f"bias must have shape {channel} or {dst}", inputs)
        if len(inputs) > 3 and (inputs[3].shape != dst or inputs[3].dtype != dtype):
            self.fail(f"z must be {dtype}{list(dst)} like dst", inputs)
        return [TensorInfo(dst, dtype)]


@register_op
class ConvolutionBackwardData(ConvBase):
    """Transposed convolution: the gradient of ``ConvolutionForward`` w.r.t. its src.

    Inputs: ``filter, diff`` (MegEngine's order); the filter is the forward one, so a
    dense filter ``[oc, ic, kh, kw]`` maps ``oc``-channel diff to ``ic`` channels. The
    output size is ``(d - 1) * stride + (k - 1) * dilate + 1 - 2 * pad`` per axis unless
    ``output_hw`` names a larger one (at most ``stride - 1`` more) that still convolves
    back to ``diff``'s size. MegEngine passes that shape as a third input var; the
    ``.mge`` reader/writer converts.
    """

    type_name = "ConvolutionBackwardData"
    nr_inputs = (2,)
    output_hw: tuple[int, ...] = ()

    def out_hw(self, diff_hw: Sequence[int], kernel: Sequence[int],
               inputs: Sequence[TensorInfo] = ()) -> tuple[int, int]:
        """The output spatial size for a diff of spatial size ``diff_hw``."""
        axes = list(zip(diff_hw, kernel, (self.stride_h, self.stride_w),
                        (self.pad_h, self.pad_w), (self.dilate_h, self.dilate_w), strict=True))
        if not self.output_hw:
            out = tuple((d - 1) * s + (k - 1) * dl + 1 - 2 * p for d, k, s, p, dl in axes)
        elif len(self.output_hw) == 2:
            out = tuple(int(o) for o in self.output_hw)
            if any(conv_out_size(o, k, s, p, dl) != d
                   for o, (d, k, s, p, dl) in zip(out, axes, strict=True)):
                self.fail(f"output_hw {out} does not convolve back to {tuple(diff_hw)}", inputs)
        else:
            self.fail(f"output_hw must be (h, w), got {self.output_hw!r}", inputs)
        if min(out) < 1:
            self.fail("padding leaves an empty output", inputs)
        return out[0], out[1]

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        filt, diff = inputs
        n, oc, hw, (groups, ocpg, icpg), kernel = self.unpack(inputs, diff, filt)
        if ocpg * groups != oc:
            self.fail(f"diff has {oc} channels but the filter makes {ocpg * groups}", inputs)
        out = self.layout(n, groups * icpg, self.out_hw(hw, kernel, inputs))
        return [TensorInfo(out, diff.dtype)]
