"""Quantized depthwise ConvBias rounds as MegEngine 1.13's x86 AVX2 channel-wise kernels:
``roundf(float32(acc + bias) * (bias_scale / out_scale))``, not the dense kernels' sum of
reals. The case is one output of the real MobileNetV2's PTQ (layer 14) where the two
differ; real MegEngine Lite gives 33 (tests/quantization/test_ptq_mobilenet.py)."""

from __future__ import annotations

import numpy as np

import mge
from mge.dtype import qint8, qint32
from mge.functional.quantized import conv_bias_activation

SRC, FLT, DST = 0.04703584685921669, 0.08557814359664917, 0.16150504350662231
WINDOW = [[25, 61, 111], [39, 93, 86], [43, 14, 21]]
FILTER = [[-4, 4, 2], [2, 10, 4], [0, 0, -6]]
BIAS = -288  # 1592 + BIAS = 1304; 1304 * (bias scale / 0.1615...) = 32.5 exactly in float32


def _quantized(ints: np.ndarray, dtype: np.dtype) -> mge.Tensor:
    return mge.tensor(ints.astype(np.float32) * np.float32(dtype.metadata["mgb_dtype"]["scale"])
                      ).astype(dtype)


def test_depthwise_conv_bias_rounds_like_megengine_channel_wise_kernel() -> None:
    x = np.zeros((1, 2, 3, 3))
    x[0, 0] = WINDOW
    w = np.zeros((2, 1, 1, 3, 3))
    w[0, 0, 0] = FILTER
    b = np.array([BIAS, 0]).reshape(1, 2, 1, 1)
    out = conv_bias_activation(
        _quantized(x, qint8(SRC)), _quantized(w, qint8(FLT)),
        _quantized(b, qint32(SRC * FLT)), qint8(DST), groups=2)
    assert out.numpy().astype(np.int64)[0, 0, 0, 0] == 33  # the dense kernels' order: 32
