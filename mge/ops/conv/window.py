"""Window ops over NCHW images: ``Images2Neibs`` (every sliding window as its own axes),
its adjoint ``SlidingWindowTranspose`` (windows summed back into an image) and
``GroupLocal`` (a convolution whose filter differs at every output position).

Params are MegEngine's ``Images2Neibs`` / ``SlidingWindowTranspose`` / ``Convolution``
fields; a window of ``window`` taps spaced ``dilate`` apart moves by ``stride`` over the
input zero-padded by ``pad`` on both sides.

Example:
    >>> op = Images2Neibs(window_h=2, window_w=2, stride_h=2, stride_w=2)
    >>> op.infer([TensorInfo((1, 3, 4, 6), np.dtype("float32"))])[0].shape
    (1, 3, 2, 3, 2, 2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op

FLOATS = (np.dtype("float32"), np.dtype("float16"))


def window_out(size: int, window: int, stride: int, pad: int, dilate: int) -> int:
    """Number of window positions along one axis (< 1: none fits)."""
    return (size + 2 * pad - (window - 1) * dilate - 1) // stride + 1


@dataclasses.dataclass(frozen=True)
class WindowBase(OpDef):
    """Padding, stride and dilation of a 2-d sliding window (MegEngine's field names)."""

    pad_h: int = 0
    pad_w: int = 0
    stride_h: int = 1
    stride_w: int = 1
    dilate_h: int = 1
    dilate_w: int = 1

    def check_window(self, inputs: Sequence[TensorInfo], x: TensorInfo, window: Sequence[int],
                     size: Sequence[int]) -> tuple[int, int]:
        """Validate the params and a float input; the window positions over ``size``."""
        if min(self.stride_h, self.stride_w, self.dilate_h, self.dilate_w, *window) < 1:
            self.fail("window, stride and dilation must be >= 1", inputs)
        if min(self.pad_h, self.pad_w) < 0:
            self.fail("padding must be >= 0", inputs)
        if x.dtype not in FLOATS:
            self.fail(f"input must be float32 or float16, got {x.dtype}", inputs)
        out = tuple(window_out(s, k, st, p, d) for s, k, st, p, d in zip(
            size, window, (self.stride_h, self.stride_w), (self.pad_h, self.pad_w),
            (self.dilate_h, self.dilate_w), strict=True))
        if min(out) < 1:
            self.fail(f"the (dilated) window {tuple(window)} is larger than the padded "
                      f"input {tuple(size)}", inputs)
        return out[0], out[1]


@register_op
class Images2Neibs(WindowBase):
    """``(N, C, H, W) -> (N, C, OH, OW, window_h, window_w)``: every window position."""

    type_name = "Images2Neibs"
    memory = Memory.FRESH
    mge_form = MgeForm("Images2Neibs", ("Images2Neibs",))
    nr_inputs = (1,)
    window_h: int = 3
    window_w: int = 3

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        (x,) = inputs
        if x.ndim != 4:
            self.fail(f"input must be 4-d NCHW, got {x.ndim}-d", inputs)
        window = (self.window_h, self.window_w)
        oh, ow = self.check_window(inputs, x, window, x.shape[2:])
        return [TensorInfo((*x.shape[:2], oh, ow, *window), x.dtype)]


@register_op
class SlidingWindowTranspose(WindowBase):
    """``(N, C, OH, OW, window_h, window_w) -> (N, C, out_h, out_w)``: each window's
    values added back at the image positions they came from (adjoint of Images2Neibs)."""

    type_name = "SlidingWindowTranspose"
    memory = Memory.FRESH
    mge_form = MgeForm("SlidingWindowTranspose", ("SlidingWindowTranspose",))
    nr_inputs = (1,)
    out_h: int = 0
    out_w: int = 0
    window_h: int = 3
    window_w: int = 3

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        (x,) = inputs
        window = (self.window_h, self.window_w)
        if x.ndim != 6 or tuple(x.shape[4:]) != window:
            self.fail(f"input must be 6-d (N, C, OH, OW, {window[0]}, {window[1]})", inputs)
        positions = self.check_window(inputs, x, window, (self.out_h, self.out_w))
        if positions != tuple(x.shape[2:4]):
            self.fail(f"an ({self.out_h}, {self.out_w}) image has {positions} window "
                      f"positions, the input has {tuple(x.shape[2:4])}", inputs)
        return [TensorInfo((*x.shape[:2], self.out_h, self.out_w), x.dtype)]


@register_op
class GroupLocal(WindowBase):
    """Locally connected layer (MegEngine ``GroupLocal``, param ``Convolution``): output
    position ``(y, x)`` of group ``g`` uses its own filter ``filter[g, y, x]``.

    Inputs: ``src (N, IC, IH, IW)``, ``filter (G, OH, OW, IC/G, FH, FW, OC/G)``; output
    ``(N, OC, OH, OW)``. Like MegEngine: cross-correlation, dense, no dilation, NCHW.
    """

    type_name = "GroupLocal"
    memory = Memory.FRESH
    mge_form = MgeForm("GroupLocalV2", ("Convolution",))
    nr_inputs = (2,)
    mode: str = "CROSS_CORRELATION"
    sparse: str = "DENSE"
    format: str = "NCHW"
    compute_mode: str = "DEFAULT"

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        src, filt = inputs
        check_enum(self, "mode", ("CROSS_CORRELATION",))
        check_enum(self, "sparse", ("DENSE",))
        check_enum(self, "format", ("NCHW",))
        check_enum(self, "compute_mode", ("DEFAULT", "FLOAT32"))
        if (self.dilate_h, self.dilate_w) != (1, 1):
            self.fail("GroupLocal supports no dilation (MegEngine's rule)", inputs)
        if src.ndim != 4 or filt.ndim != 7:
            self.fail("src must be 4-d NCHW and filter 7-d (G, OH, OW, IC/G, FH, FW, OC/G)",
                      inputs)
        if filt.dtype != src.dtype:
            self.fail("src and filter must share one dtype", inputs)
        groups, oh, ow, icpg, fh, fw, ocpg = filt.shape
        if icpg * groups != src.shape[1]:
            self.fail(f"src has {src.shape[1]} channels, the filter expects {icpg * groups}",
                      inputs)
        if self.check_window(inputs, src, (fh, fw), src.shape[2:]) != (oh, ow):
            self.fail(f"the filter is for a ({oh}, {ow}) output, the input gives "
                      f"{self.check_window(inputs, src, (fh, fw), src.shape[2:])}", inputs)
        return [TensorInfo((src.shape[0], groups * ocpg, oh, ow), src.dtype)]


__all__ = ["GroupLocal", "Images2Neibs", "SlidingWindowTranspose", "WindowBase", "window_out"]
