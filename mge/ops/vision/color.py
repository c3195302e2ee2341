"""Colour conversion: ``CvtColorForward`` (MegEngine ``CvtColor`` param, NHWC images).

Input and output are ``(n, h, w, channels)`` of one dtype. The YUV 4:2:0 modes take the
planes stacked as one channel: ``(n, h * 3 / 2, w, 1)`` (Y rows, then the chroma rows:
interleaved VU for NV21 and ``YCrCb``, UV for NV12, planar V then U for YV12, U then V
for YU12), and give ``(n, h, w, 3)`` (or ``1`` for ``YUV2GRAY_*``). float32 supports
the modes MegEngine's CPU kernels have for it (``FLOAT_MODES``); uint8 all.

Example:
    >>> op = CvtColorForward(mode="YUV2BGR_NV21")
    >>> op.infer([TensorInfo((1, 720, 640, 1), np.dtype("uint8"))])[0].shape
    (1, 480, 640, 3)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op

#: MegEngine's ``CvtColor::Mode`` members (enum order)
MODES = (
    "RGB2GRAY", "RGB2YUV", "YUV2RGB", "GRAY2RGB", "RGBA2RGB", "RGBA2BGR", "RGBA2GRAY", "RGB2BGR",
    "BGR2GRAY", "BGR2RGB", "YUV2GRAY_NV21", "YUV2RGB_NV21", "YUV2BGR_NV21", "YUV2GRAY_NV12",
    "YUV2RGB_NV12", "YUV2BGR_NV12", "YUV2GRAY_YV12", "YUV2RGB_YV12", "YUV2BGR_YV12",
    "YUV2GRAY_YU12", "YUV2RGB_YU12", "YUV2BGR_YU12", "YCrCb2RGB", "YCrCb2BGR",
    "BT601_YUV2RGB_NV21", "BT601_YUV2BGR_NV21", "BT601_YUV2RGB_NV12", "BT601_YUV2BGR_NV12",
    "BT601_YUV2RGB_YV12", "BT601_YUV2BGR_YV12", "BT601_YUV2RGB_YU12", "BT601_YUV2BGR_YU12",
)  # fmt: skip
FLOAT_MODES = ("RGB2GRAY", "RGB2YUV", "YUV2RGB", "GRAY2RGB", "BGR2GRAY")
#: per packed mode: (input channels, output channels)
PACKED = {"RGB2GRAY": (3, 1), "RGB2YUV": (3, 3), "YUV2RGB": (3, 3), "GRAY2RGB": (1, 3),
          "RGBA2RGB": (4, 3), "RGBA2BGR": (4, 3), "RGBA2GRAY": (4, 1), "RGB2BGR": (3, 3),
          "BGR2GRAY": (3, 1), "BGR2RGB": (3, 3)}


def is_planar_yuv(mode: str) -> bool:
    """True for the planar 4:2:0 modes (YV12 / YU12), whose height must divide by 6."""
    return mode.endswith(("_YV12", "_YU12"))


@register_op
class CvtColorForward(OpDef):
    """Convert NHWC images between colour spaces (MegEngine ``CvtColor``)."""

    type_name = "CvtColorForward"
    memory = Memory.FRESH
    mge_form = MgeForm("CvtColor", ("CvtColor",))
    nr_inputs = (1,)
    mode: str = "RGB2GRAY"

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        (src,) = inputs
        check_enum(self, "mode", MODES)
        if src.ndim != 4 or 0 in src.shape:
            self.fail("src must be a non-empty 4-d NHWC tensor", inputs)
        if src.dtype == np.float32:
            if self.mode not in FLOAT_MODES:
                self.fail(f"mode {self.mode} needs uint8 images (float32 supports "
                          f"{', '.join(FLOAT_MODES)})", inputs)
        elif src.dtype != np.uint8:
            self.fail(f"src must be uint8 or float32, got {src.dtype}", inputs)
        n, h, w, c = src.shape
        if self.mode in PACKED:
            cin, cout = PACKED[self.mode]
            if c != cin:
                self.fail(f"mode {self.mode} needs {cin} channels, got {c}", inputs)
            return [TensorInfo((n, h, w, cout), src.dtype)]
        rows = 6 if is_planar_yuv(self.mode) else 3
        if c != 1 or h % rows or w % 2:
            self.fail(f"mode {self.mode} needs 1-channel stacked YUV 4:2:0 planes with height "
                      f"a multiple of {rows} and even width, got {src.shape}", inputs)
        cout = 1 if self.mode.startswith("YUV2GRAY") else 3
        return [TensorInfo((n, h // 3 * 2, w, cout), src.dtype)]
