"""Op-table cases for ConvolutionForward and ConvBiasForward."""

from __future__ import annotations

from mge.ops.conv import (
    ConvBiasForward,
    ConvolutionBackwardData,
    ConvolutionBackwardFilter,
    ConvolutionForward,
)

from .optable import OpCase, rand

_TOL = {"atol": 1e-4, "rtol": 1e-4}
_GROUP = {"sparse": "GROUP"}

CASES = [
    OpCase(ConvolutionForward(), [rand(1, 3, 5, 5), rand(4, 3, 3, 3, seed=1)], **_TOL),
    OpCase(ConvolutionForward(pad_h=1, pad_w=2, stride_h=2, stride_w=3),
           [rand(2, 3, 9, 10), rand(5, 3, 3, 2, seed=1)], id="Conv-pad-stride-nonsquare", **_TOL),
    OpCase(ConvolutionForward(dilate_h=2, dilate_w=3, pad_h=2, pad_w=1),
           [rand(2, 4, 11, 12), rand(6, 4, 3, 3, seed=1)], id="Conv-dilation", **_TOL),
    OpCase(ConvolutionForward(sparse="GROUP", pad_h=1, pad_w=1),
           [rand(2, 6, 7, 7), rand(3, 4, 2, 3, 3, seed=1)], id="Conv-group", **_TOL),
    OpCase(ConvolutionForward(sparse="GROUP", pad_h=1, pad_w=1, stride_h=2, stride_w=2),
           [rand(1, 8, 9, 9), rand(8, 1, 1, 3, 3, seed=1)], id="Conv-depthwise", **_TOL),
    OpCase(ConvolutionForward(format="NHWC", sparse="GROUP", stride_h=2, dilate_w=2, pad_h=1),
           [rand(2, 7, 8, 4), rand(4, 2, 3, 2, 1, seed=1)], id="Conv-depthwise-x2-NHWC",
           **_TOL),
    OpCase(ConvolutionForward(mode="CONVOLUTION", pad_h=1),
           [rand(1, 2, 6, 5), rand(3, 2, 3, 2, seed=1)], id="Conv-flip", **_TOL),
    OpCase(ConvolutionForward(format="NHWC", pad_h=1, pad_w=1, stride_w=2),
           [rand(2, 7, 8, 3), rand(4, 3, 3, 3, seed=1)], id="Conv-NHWC", **_TOL),
    OpCase(ConvolutionForward(format="NHWC", sparse="GROUP"),
           [rand(1, 5, 5, 4), rand(2, 3, 3, 3, 2, seed=1)], id="Conv-NHWC-group", **_TOL),
    OpCase(ConvolutionForward(pad_h=1, pad_w=1), [rand(0, 3, 5, 5), rand(4, 3, 3, 3, seed=1)],
           id="Conv-zero-batch"),
    OpCase(ConvolutionForward(pad_h=1, pad_w=1),
           [rand(1, 3, 6, 6, dtype="float16"), rand(4, 3, 3, 3, dtype="float16", seed=1)],
           id="Conv-float16", atol=2e-2, rtol=1e-2),
    OpCase(ConvBiasForward(nonlineMode="RELU", pad_h=1, pad_w=1),
           [rand(2, 3, 6, 6), rand(4, 3, 3, 3, seed=1), rand(1, 4, 1, 1, seed=2)],
           id="ConvBias-relu", **_TOL),
    OpCase(ConvBiasForward(nonlineMode="SIGMOID", stride_h=2, **_GROUP),
           [rand(1, 4, 7, 6), rand(2, 3, 2, 3, 3, seed=1), rand(1, 6, 1, 1, seed=2)],
           id="ConvBias-sigmoid-group", **_TOL),
    OpCase(ConvBiasForward(nonlineMode="H_SWISH", pad_h=1, pad_w=1),
           [rand(1, 3, 5, 5), rand(4, 3, 3, 3, seed=1), rand(1, 4, 1, 1, seed=2),
            rand(1, 4, 5, 5, seed=3)], id="ConvBias-hswish-z", **_TOL),
    OpCase(ConvBiasForward(), [rand(1, 3, 5, 5), rand(2, 3, 1, 1, seed=1)],
           id="ConvBias-no-bias", **_TOL),
    OpCase(ConvBiasForward(nonlineMode="RELU6", pad_h=1, pad_w=1),
           [rand(1, 3, 6, 6, low=-4, high=4), rand(4, 3, 3, 3, seed=1), rand(1, 4, 1, 1, seed=2)],
           id="ConvBias-relu6-in-memory", **_TOL),
    OpCase(ConvBiasForward(format="NHWC", nonlineMode="RELU"),
           [rand(1, 5, 5, 3), rand(4, 3, 3, 3, seed=1), rand(1, 1, 1, 4, seed=2)],
           id="ConvBias-NHWC", **_TOL),
    OpCase(ConvBiasForward(), [rand(1, 2, 4, 4), rand(3, 2, 3, 3, seed=1), rand(1, 3, 2, 2)],
           id="ConvBias-full-bias", **_TOL),
    OpCase(ConvBiasForward(nonlineMode="RELU", pad_h=1, pad_w=1),
           [rand(1, 3, 5, 5, dtype="float16"), rand(4, 3, 3, 3, dtype="float16", seed=1),
            rand(1, 4, 1, 1, dtype="float16", seed=2)], id="ConvBias-float16",
           atol=2e-2, rtol=1e-2),
]

CASES += [
    OpCase(ConvolutionBackwardData(), [rand(3, 4, 3, 3, seed=1), rand(2, 3, 5, 4)], **_TOL),
    OpCase(ConvolutionBackwardData(stride_h=2, stride_w=3, pad_h=1, pad_w=2, dilate_h=2),
           [rand(4, 2, 3, 2, seed=1), rand(2, 4, 5, 6)], id="ConvBwdData-stride-pad-dilate",
           **_TOL),
    OpCase(ConvolutionBackwardData(stride_h=2, stride_w=2, pad_h=1, pad_w=1, output_hw=(10, 8)),
           [rand(3, 2, 3, 3, seed=1), rand(1, 3, 5, 4)], id="ConvBwdData-output-hw", **_TOL),
    OpCase(ConvolutionBackwardData(sparse="GROUP", stride_h=2, stride_w=2, mode="CONVOLUTION"),
           [rand(2, 3, 2, 3, 2, seed=1), rand(1, 6, 4, 4)], id="ConvBwdData-group-flip", **_TOL),
    OpCase(ConvolutionBackwardData(format="NHWC", stride_h=2),
           [rand(3, 3, 3, 2, seed=1), rand(2, 4, 4, 3)], id="ConvBwdData-NHWC", **_TOL),
    OpCase(ConvolutionBackwardData(stride_h=2, stride_w=2),
           [rand(3, 2, 2, 2, dtype="float16", seed=1), rand(1, 3, 4, 4, dtype="float16")],
           id="ConvBwdData-float16", atol=2e-2, rtol=1e-2),
]

CASES += [
    OpCase(ConvolutionBackwardFilter(),
           [rand(2, 3, 5, 4), rand(2, 4, 3, 2, seed=1), rand(4, 3, 3, 3, seed=2)], **_TOL),
    OpCase(ConvolutionBackwardFilter(stride_h=2, stride_w=3, pad_h=1, pad_w=2, dilate_h=2),
           [rand(2, 3, 9, 10), rand(2, 4, 4, 5, seed=1), rand(4, 3, 3, 2, seed=2)],
           id="ConvBwdFilter-stride-pad-dilate", **_TOL),
    OpCase(ConvolutionBackwardFilter(sparse="GROUP", mode="CONVOLUTION", pad_h=1, pad_w=1),
           [rand(1, 6, 5, 5), rand(1, 4, 5, 5, seed=1), rand(2, 2, 3, 3, 3, seed=2)],
           id="ConvBwdFilter-group-flip", **_TOL),
    OpCase(ConvolutionBackwardFilter(format="NHWC", stride_h=2),
           [rand(2, 7, 6, 3), rand(2, 3, 4, 4, seed=1), rand(4, 3, 3, 3, seed=2)],
           id="ConvBwdFilter-NHWC", **_TOL),
]
