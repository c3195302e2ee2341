"""``DeformableConvForward``: a convolution whose taps sample the input at learned
offsets, weighted by a mask (MegEngine ``DeformableConv``, param ``Convolution``; NCHW,
cross-correlation).

Inputs ``src (N, IC, H, W)``, ``filter`` (as ``ConvolutionForward``), ``offset
(N, 2 * dg * KH * KW, OH, OW)`` and ``mask (N, dg * KH * KW, OH, OW)``, with ``dg``
deformable groups splitting the input channels. Tap ``(i, j)`` of output ``(y, x)`` reads
``src`` at ``(y * sh - ph + i * dh + dy, x * sw - pw + j * dw + dx)`` (``dy, dx`` at
offset channels ``2 * (i * KW + j)`` and ``+ 1`` of its group) by bilinear interpolation
with zeros outside, times the mask.

Example:
    >>> from mge.core.opdef import TensorInfo
    >>> f = np.dtype("float32")
    >>> DeformableConvForward(pad_h=1, pad_w=1).infer([
    ...     TensorInfo((1, 2, 4, 4), f), TensorInfo((3, 2, 3, 3), f),
    ...     TensorInfo((1, 18, 4, 4), f), TensorInfo((1, 9, 4, 4), f)])[0].shape
    (1, 3, 4, 4)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.opdef import Memory, MgeForm, TensorInfo, check_enum, register_op
from . import _EP, ConvBase


@register_op
class DeformableConvForward(ConvBase):
    """Deformable convolution (see the module docstring)."""

    type_name = "DeformableConvForward"
    memory = Memory.FRESH
    mge_form = MgeForm("DeformableConvForward", ("Convolution", "ExecutionPolicy"),
                       legacy=("DeformableConvForwardV1",))
    nr_inputs = (4,)

    def deformable_groups(self, inputs: Sequence[TensorInfo], kernel: tuple[int, int]) -> int:
        """``dg`` from the offset's channels (validated against the mask and the input)."""
        src, _, offset, mask = inputs
        taps = kernel[0] * kernel[1]
        dg = offset.shape[1] // (2 * taps) if offset.ndim == 4 else 0
        if offset.ndim != 4 or mask.ndim != 4 or dg < 1 or offset.shape[1] != 2 * dg * taps \
                or mask.shape[1] != dg * taps:
            self.fail(f"offset must be (N, 2*dg*{taps}, OH, OW) and mask (N, dg*{taps}, OH, OW)",
                      inputs)
        if src.shape[1] % dg:
            self.fail(f"the {src.shape[1]} input channels do not split into {dg} deformable "
                      "groups", inputs)
        return dg

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "mode", ("CROSS_CORRELATION",))
        check_enum(self, "format", ("NCHW",))
        geo = self.geometry(inputs)
        self.deformable_groups(inputs, geo.kernel_hw)
        src, offset, mask = inputs[0], inputs[2], inputs[3]
        want = (src.shape[0], geo.out_hw[0], geo.out_hw[1])
        for name, t in (("offset", offset), ("mask", mask)):
            if (t.shape[0], *t.shape[2:]) != want:
                self.fail(f"{name} must have batch {want[0]} and the output size "
                          f"{geo.out_hw}", inputs)
            if t.dtype != np.dtype("float32"):
                self.fail(f"{name} must be float32", inputs)
        return [TensorInfo(self.layout(geo.batch, geo.out_channels, geo.out_hw), src.dtype)]


class _DeformableBackward(DeformableConvForward):
    """Inputs ``src, filter, offset, mask, diff`` (MegEngine's order): ``diff`` is the
    gradient of the forward output."""

    nr_inputs = (5,)
    grad_rule = None  # not the forward's (register_op resets only kernels and export rules)

    def forward_infos(self, inputs: Sequence[TensorInfo]) -> Sequence[TensorInfo]:
        """The forward inputs, after checking ``diff`` against the forward output."""
        (out,) = DeformableConvForward.infer(self, inputs[:4])
        diff = inputs[4]
        if diff.shape != out.shape or diff.dtype != out.dtype:
            self.fail(f"diff must be {out.dtype}{list(out.shape)}, the forward output", inputs)
        return inputs[:4]


@register_op
class DeformableConvBackwardData(_DeformableBackward):
    """The gradients of ``DeformableConvForward`` w.r.t. ``src``, ``offset`` and ``mask``."""

    type_name = "DeformableConvBackwardData"
    memory = Memory.FRESH
    mge_form = MgeForm("DeformableConvBackwardData", ("Convolution", _EP))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        src, _, offset, mask = self.forward_infos(inputs)
        return [TensorInfo(src.shape, src.dtype), TensorInfo(offset.shape, offset.dtype),
                TensorInfo(mask.shape, mask.dtype)]


@register_op
class DeformableConvBackwardFilter(_DeformableBackward):
    """The gradient of ``DeformableConvForward`` w.r.t. its filter."""

    type_name = "DeformableConvBackwardFilter"
    memory = Memory.FRESH
    mge_form = MgeForm("DeformableConvBackwardFilter", ("Convolution", _EP))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        _, filt, _, _ = self.forward_infos(inputs)
        return [TensorInfo(filt.shape, inputs[0].dtype)]


__all__ = ["DeformableConvBackwardData", "DeformableConvBackwardFilter",
           "DeformableConvForward"]
