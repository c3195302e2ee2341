"""Convolution ops: ``ConvolutionForward``, ``ConvBiasForward``, the transposed
``ConvolutionBackwardData`` and the filter gradient ``ConvolutionBackwardFilter``
(2-d, NCHW or NHWC).

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
from typing import Any, NamedTuple

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op
from ...dtype import canonical_dtype, dtype_name, is_quantize, quantized_cname

F32 = np.dtype("float32")
_EP = "ExecutionPolicy"  # the param table MegEngine writes after a convolution's
CONV_MODES = ("CROSS_CORRELATION", "CONVOLUTION")
SPARSE_MODES = ("DENSE", "GROUP")
CONV_FORMATS = ("NCHW", "NHWC")
COMPUTE_MODES = ("DEFAULT", "FLOAT32")
#: ConvBias nonlinearities: ``IDENTITY`` or the ``Elemwise`` mode of that name, applied
#: to the biased result. ``RELU6`` is in-memory only: MegEngine's ConvBias has no such
#: mode, mge's plans fuse a ReLU6 after an IDENTITY ConvBias into it, and the ``.mge``
#: writer refuses it (:meth:`ConvBiasForward.unwritable`).
NONLINE_MODES = ("IDENTITY", "RELU", "SIGMOID", "H_SWISH")
IN_MEMORY_NONLINE_MODES = ("RELU6",)
FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float16"))


class FilterLayout(NamedTuple):
    """The filter canonicalisation of one convolution (see :meth:`ConvBase.filter_layout`):
    add a leading group axis, permute the five axes, flip the kernel spatially."""

    add_group_axis: bool
    permutation: tuple[int, int, int, int, int]
    flip: bool


def canonical_filter(op: ConvBase, w: Any) -> Any:
    """A filter as ``(groups, oc/g, ic/g, KH, KW)``, flipped for ``CONVOLUTION``: a numpy
    array, or any value with numpy's ``[None]``, ``transpose(perm)`` and reversed slices
    (the ONNX exporter's values)."""
    add_group, perm, flip = op.filter_layout()
    w = w[None] if add_group else w
    w = w.transpose(perm)
    return w[..., ::-1, ::-1] if flip else w


def from_canonical_filter(op: ConvBase, w: Any) -> Any:
    """The inverse of :func:`canonical_filter`: a ``(groups, oc/g, ic/g, KH, KW)`` array
    (numpy or torch; ``flip`` for torch) in ``op``'s filter layout."""
    add_group, perm, flip = op.filter_layout()
    if flip:
        w = w.flip((-2, -1)) if hasattr(w, "flip") else w[..., ::-1, ::-1]
    inverse = tuple(int(k) for k in np.argsort(perm))
    w = w.permute(inverse) if hasattr(w, "permute") else w.transpose(inverse)
    return w[0] if add_group else w


def split_bias(op: ConvBase, consts: Sequence[np.ndarray | None], out: TensorInfo
               ) -> tuple[np.ndarray | None, tuple[int, ...]]:
    """For an NCHW convolution with ``consts`` known: its constant per-channel bias (or
    ``None``) and the inputs to add to the convolution's result (a full-shape bias, z)."""
    bias = consts[2] if len(consts) > 2 else None
    if bias is not None and bias.shape == (1, out.shape[1], 1, 1):
        return bias, tuple(range(3, len(consts)))
    return None, tuple(range(2, len(consts)))


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
        if is_quantize(data.dtype) or is_quantize(filt.dtype):
            if not (is_quantize(data.dtype) and is_quantize(filt.dtype)) or \
                    {quantized_cname(data.dtype), quantized_cname(filt.dtype)} != {"QuantizedS8"}:
                self.fail("quantized data and filter must both be QuantizedS8, got "
                          f"{dtype_name(data.dtype)} and {dtype_name(filt.dtype)}", inputs)
        elif data.dtype not in FLOAT_DTYPES or filt.dtype != data.dtype:
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

    def in_float16(self, inputs: Sequence[TensorInfo], compute_f32: bool) -> OpDef:
        """Forward convolutions keep float32 compute when asked (MegEngine's
        ``ConvertF32ToF16Pass``); the backward ones have no such rule there."""
        forward = isinstance(self, (ConvolutionForward, ConvBiasForward))
        return dataclasses.replace(self, compute_mode="FLOAT32") if compute_f32 and forward \
            else self

    def epilogue(self) -> str:
        """The nonlinearity applied to the result (``IDENTITY`` or an Elemwise mode)."""
        return getattr(self, "nonlineMode", "IDENTITY")

    def filter_layout(self) -> FilterLayout:
        """How to bring this op's filter to ``(groups, oc/g, ic/g, KH, KW)`` (dense
        filters get a group axis, NHWC ones are permuted, CONVOLUTION mode flips)."""
        perm = (0, 1, 4, 2, 3) if self.format == "NHWC" else (0, 1, 2, 3, 4)
        return FilterLayout(self.sparse == "DENSE", perm, self.mode == "CONVOLUTION")

    def layout(self, batch: int, channels: int, hw: tuple[int, int]) -> tuple[int, ...]:
        """A data shape in this op's format."""
        if self.format == "NCHW":
            return (batch, channels, *hw)
        return (batch, *hw, channels)


@register_op
class ConvolutionForward(ConvBase):
    """2-d convolution ``dst = conv(src, filter)`` (MegEngine ``Convolution`` param v2)."""

    type_name = "ConvolutionForward"
    format_rule = "first"
    memory = Memory.FRESH
    mge_form = MgeForm("Convolution", ("Convolution", _EP), legacy=("ConvolutionV2",))
    nr_inputs = (2,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        geo = self.geometry(inputs)
        return [TensorInfo(self.layout(geo.batch, geo.out_channels, geo.out_hw), inputs[0].dtype)]


@register_op
class ConvBiasForward(ConvBase):
    """``dst = nonline(conv(src, filter) + bias + z)`` (MegEngine ``ConvBias`` param v4).

    Inputs: ``src, filter[, bias[, z]]``. ``bias`` is per channel (``(1, oc, 1, 1)`` in
    NCHW, ``(1, 1, 1, oc)`` in NHWC) or has dst's full shape; ``z`` has dst's shape.
    Quantized ``src``/``filter`` (``QuantizedS8``) take a quantized bias (``QuantizedS32``) and give
    the quantized ``dtype`` (a :func:`mge.dtype.dtype_spec` string, MegEngine's output
    dtype; empty: the src dtype, for float convolutions).
    """

    type_name = "ConvBiasForward"
    format_rule = "first"
    memory = Memory.FRESH
    mge_form = MgeForm("ConvBiasForward", ("ConvBias", _EP), legacy=("ConvBiasForwardV4",))
    nr_inputs = (2, 3, 4)
    nonlineMode: str = "IDENTITY"  # noqa: N815 - MegEngine field name
    dtype: str = ""

    def unwritable(self) -> str | None:
        if self.nonlineMode in IN_MEMORY_NONLINE_MODES:
            return f"nonlineMode {self.nonlineMode} exists in memory only (a fused plan epilogue)"
        return None

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "nonlineMode", NONLINE_MODES + IN_MEMORY_NONLINE_MODES)
        geo = self.geometry(inputs)
        dst = self.layout(geo.batch, geo.out_channels, geo.out_hw)
        dtype = inputs[0].dtype
        oc = geo.out_channels
        channel = (1, oc, 1, 1) if self.format == "NCHW" else (1, 1, 1, oc)
        quantized = is_quantize(dtype)
        if len(inputs) > 2:
            bias = inputs[2]
            if (is_quantize(bias.dtype) != quantized) or (not quantized and bias.dtype != dtype):
                self.fail("bias must have the src dtype (quantized src: a quantized bias)",
                          inputs)
            if bias.shape not in (channel, dst):
                self.fail(f"bias must have shape {channel} or {dst}", inputs)
        if len(inputs) > 3 and (inputs[3].shape != dst or is_quantize(inputs[3].dtype)
                                != quantized or (not quantized and inputs[3].dtype != dtype)):
            self.fail(f"z must be {dtype_name(dtype)}{list(dst)} like dst", inputs)
        return [TensorInfo(dst, self.output_dtype(inputs))]

    def output_dtype(self, inputs: Sequence[TensorInfo]) -> np.dtype:
        """The dst dtype: ``dtype`` (required, quantized, for quantized src), else src's."""
        if not self.dtype:
            if is_quantize(inputs[0].dtype):
                self.fail("a quantized convolution needs its output dtype", inputs)
            return inputs[0].dtype
        try:
            out = canonical_dtype(self.dtype)
        except TypeError as exc:
            self.fail(str(exc), inputs)
        if is_quantize(out) != is_quantize(inputs[0].dtype) or (
                not is_quantize(out) and out != inputs[0].dtype):
            self.fail(f"output dtype {self.dtype} does not suit src {dtype_name(inputs[0].dtype)}",
                      inputs)
        return out


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
    memory = Memory.FRESH
    mge_form = MgeForm("ConvolutionBackwardData", ("Convolution", _EP),
                       static=(("output_hw", "like"),), legacy=("ConvolutionBackwardDataV2",))
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


@register_op
class ConvolutionBackwardFilter(ConvBase):
    """The gradient of ``ConvolutionForward`` w.r.t. its filter.

    Inputs: ``src, diff, filter`` (MegEngine's order): ``diff`` is the gradient of the
    forward output, ``filter`` only gives the result's shape (the forward filter's).
    """

    type_name = "ConvolutionBackwardFilter"
    memory = Memory.FRESH
    mge_form = MgeForm("ConvolutionBackwardFilter", ("Convolution", _EP),
                       legacy=("ConvolutionBackwardFilterV2",))
    nr_inputs = (3,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        src, diff, filt = inputs
        geo = self.geometry([src, filt])
        want = self.layout(geo.batch, geo.out_channels, geo.out_hw)
        if tuple(diff.shape) != want or diff.dtype != src.dtype:
            self.fail(f"diff must be {src.dtype}{list(want)}, the forward output", inputs)
        return [TensorInfo(tuple(filt.shape), src.dtype)]


# gradient rules (reverse-mode autodiff: mge.core.autodiff)
from . import grad  # noqa: E402,F401
from .conv3d import Convolution3DBackwardData, Convolution3DForward  # noqa: E402,F401
from .deformable import DeformableConvForward  # noqa: E402,F401
from .window import GroupLocal, Images2Neibs, SlidingWindowTranspose  # noqa: E402,F401
