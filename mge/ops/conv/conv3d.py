"""3-d convolutions: ``Convolution3DForward`` and the transposed
``Convolution3DBackwardData`` (NCDHW, dense or grouped).

Params are MegEngine's ``Convolution3D`` fields. Filters are ``[oc, ic, kd, kh, kw]``
(``DENSE``) or ``[g, oc/g, ic/g, kd, kh, kw]`` (``GROUP``); padding is symmetric;
``mode="CONVOLUTION"`` flips the kernel spatially. Only MegEngine's ``FLOAT`` data type
and ``NCDHW`` format are computed (others are refused by name).

Example:
    >>> op = Convolution3DForward(pad_d=1, pad_h=1, pad_w=1)
    >>> op.infer([TensorInfo((1, 3, 4, 8, 8), F32), TensorInfo((5, 3, 3, 3, 3), F32)])[0].shape
    (1, 5, 4, 8, 8)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op

F32 = np.dtype("float32")
_EP = "ExecutionPolicy"


class Conv3DGeometry(NamedTuple):
    """Sizes of one 3-d convolution (``data`` is the side with ``groups * icpg`` channels)."""

    batch: int
    groups: int
    ocpg: int
    icpg: int
    data: tuple[int, int, int]
    kernel: tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Conv3DBase(OpDef):
    """Fields and checks shared by the 3-d convolutions (MegEngine ``Convolution3D``)."""

    mode: str = "CROSS_CORRELATION"
    pad_d: int = 0
    pad_h: int = 0
    pad_w: int = 0
    stride_d: int = 1
    stride_h: int = 1
    stride_w: int = 1
    dilate_d: int = 1
    dilate_h: int = 1
    dilate_w: int = 1
    sparse: str = "DENSE"
    data_type: str = "FLOAT"
    format: str = "NCDHW"

    @property
    def pads(self) -> tuple[int, int, int]:
        return self.pad_d, self.pad_h, self.pad_w

    @property
    def strides(self) -> tuple[int, int, int]:
        return self.stride_d, self.stride_h, self.stride_w

    @property
    def dilates(self) -> tuple[int, int, int]:
        return self.dilate_d, self.dilate_h, self.dilate_w

    def unpack(self, inputs: Sequence[TensorInfo], data: TensorInfo, filt: TensorInfo
               ) -> Conv3DGeometry:
        """Validate params, a data tensor and the filter; ``data``'s channels unchecked."""
        check_enum(self, "mode", ("CROSS_CORRELATION", "CONVOLUTION"))
        check_enum(self, "sparse", ("DENSE", "GROUP"))
        check_enum(self, "data_type", ("FLOAT",))
        check_enum(self, "format", ("NCDHW",))
        if min(self.strides + self.dilates) < 1 or min(self.pads) < 0:
            self.fail("stride and dilation must be >= 1 and padding >= 0", inputs)
        if data.dtype not in (F32, np.dtype("float16")) or filt.dtype != data.dtype:
            self.fail("data and filter must share one float dtype (float32 or float16)", inputs)
        if data.ndim != 5:
            self.fail(f"data must be 5-d (NCDHW), got {data.ndim}-d", inputs)
        group = self.sparse == "GROUP"
        if filt.ndim != (6 if group else 5):
            self.fail(f"{self.sparse} filter must be {6 if group else 5}-d", inputs)
        groups = filt.shape[0] if group else 1
        ocpg, icpg, *kernel = filt.shape[1:] if group else filt.shape
        return Conv3DGeometry(data.shape[0], groups, ocpg, icpg, tuple(data.shape[2:]),
                              tuple(kernel))

    def canonical_filter(self, w: Any) -> Any:
        """The filter as ``(groups, oc/g, ic/g, KD, KH, KW)``, flipped for ``CONVOLUTION``."""
        w = w[None] if self.sparse == "DENSE" else w
        return w[..., ::-1, ::-1, ::-1] if self.mode == "CONVOLUTION" else w

    def forward_size(self, size: Sequence[int], kernel: Sequence[int]) -> tuple[int, ...]:
        """Output size of the forward convolution of an input of spatial ``size``."""
        return tuple((s + 2 * p - (k - 1) * d - 1) // st + 1 for s, k, p, st, d in zip(
            size, kernel, self.pads, self.strides, self.dilates, strict=True))


@register_op
class Convolution3DForward(Conv3DBase):
    """3-d convolution ``dst = conv3d(src, filter)`` (MegEngine ``Convolution3D``)."""

    type_name = "Convolution3DForward"
    memory = Memory.FRESH
    mge_form = MgeForm("Convolution3D", ("Convolution3D", _EP))
    nr_inputs = (2,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        src, filt = inputs
        geo = self.unpack(inputs, src, filt)
        if geo.groups * geo.icpg != src.shape[1]:
            self.fail(f"input has {src.shape[1]} channels but the filter expects "
                      f"{geo.groups * geo.icpg}", inputs)
        out = self.forward_size(geo.data, geo.kernel)
        if min(out) < 1:
            self.fail("the (dilated) kernel is larger than the padded input", inputs)
        return [TensorInfo((geo.batch, geo.groups * geo.ocpg, *out), src.dtype)]


@register_op
class Convolution3DBackwardData(Conv3DBase):
    """Transposed 3-d convolution: the gradient of ``Convolution3DForward`` w.r.t. its src.

    Inputs: ``filter, diff`` (MegEngine's order). Each output side is
    ``(d - 1) * stride + (k - 1) * dilate + 1 - 2 * pad`` unless ``output_dhw`` names a
    larger size that still convolves back to ``diff``'s (MegEngine passes it as a third
    input var whose shape is the output's; the ``.mge`` reader/writer converts).
    """

    type_name = "Convolution3DBackwardData"
    memory = Memory.FRESH
    mge_form = MgeForm("Convolution3DBackwardData", ("Convolution3D", _EP),
                       static=(("output_dhw", "like"),))
    nr_inputs = (2,)
    output_dhw: tuple[int, ...] = ()

    def out_size(self, geo: Conv3DGeometry, inputs: Sequence[TensorInfo] = ()
                 ) -> tuple[int, int, int]:
        """The output spatial size for ``geo`` (whose ``data`` is diff's size)."""
        axes = list(zip(geo.data, geo.kernel, self.strides, self.pads, self.dilates,
                        strict=True))
        if not self.output_dhw:
            out = tuple((d - 1) * s + (k - 1) * dl + 1 - 2 * p for d, k, s, p, dl in axes)
        elif len(self.output_dhw) == 3:
            out = tuple(int(o) for o in self.output_dhw)
            if self.forward_size(out, geo.kernel) != tuple(geo.data):
                self.fail(f"output_dhw {out} does not convolve back to {geo.data}", inputs)
        else:
            self.fail(f"output_dhw must be (d, h, w), got {self.output_dhw!r}", inputs)
        if min(out) < 1:
            self.fail("padding leaves an empty output", inputs)
        return out[0], out[1], out[2]

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        filt, diff = inputs
        geo = self.unpack(inputs, diff, filt)
        if geo.groups * geo.ocpg != diff.shape[1]:
            self.fail(f"diff has {diff.shape[1]} channels but the filter makes "
                      f"{geo.groups * geo.ocpg}", inputs)
        out = self.out_size(geo, inputs)
        return [TensorInfo((geo.batch, geo.groups * geo.icpg, *out), diff.dtype)]


__all__ = ["Conv3DBase", "Conv3DGeometry", "Convolution3DBackwardData", "Convolution3DForward"]
