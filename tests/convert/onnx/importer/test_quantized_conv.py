"""ONNX ``ConvInteger`` and ``QLinearConv`` imported with exact integer semantics, checked
bit for bit against onnxruntime (padding with the zero point, strides, dilations, groups,
per-channel weight parameters, 1-d windows, SAME padding, long reductions) and refused
where mge cannot be exact."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto  # noqa: E402

import mge  # noqa: E402
from mge.convert import from_onnx  # noqa: E402
from tests.convert.onnx.importer.test_quantized import (  # noqa: E402
    _model,
    _same_as_onnxruntime,
)

RNG = np.random.default_rng(1)


def _ints(dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max + 1, shape).astype(dtype)


@pytest.mark.parametrize("attrs, x_shape, w_shape", [
    ({}, (1, 3, 7, 6), (4, 3, 3, 3)),
    ({"pads": [1, 2, 0, 1], "strides": [2, 1]}, (2, 3, 8, 9), (5, 3, 3, 2)),
    ({"dilations": [2, 2], "pads": [2, 2, 2, 2]}, (1, 2, 9, 9), (3, 2, 3, 3)),
    ({"group": 3, "pads": [1, 1, 1, 1]}, (1, 6, 5, 5), (6, 2, 3, 3)),
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, (1, 2, 7, 8), (2, 2, 4, 4)),
    ({"pads": [1, 2]}, (2, 3, 11), (4, 3, 3)),
])
def test_conv_integer_matches_onnxruntime(attrs: dict, x_shape: tuple, w_shape: tuple
                                          ) -> None:
    x, w = _ints(np.uint8, x_shape), _ints(np.uint8, w_shape)
    model = _model("ConvInteger", {"x": x}, {"w": w, "xz": np.uint8(131),
                                             "wz": np.uint8(97)},
                   [("y", TensorProto.INT32)], **attrs)
    _same_as_onnxruntime(model, {"x": x})


def test_conv_integer_without_zero_points() -> None:
    x, w = _ints(np.uint8, (1, 2, 5, 5)), _ints(np.uint8, (3, 2, 2, 2))
    model = _model("ConvInteger", {"x": x}, {"w": w}, [("y", TensorProto.INT32)])
    _same_as_onnxruntime(model, {"x": x})


@pytest.mark.parametrize("x_type, w_type", [(np.uint8, np.int8), (np.int8, np.int8),
                                            (np.uint8, np.uint8)])
@pytest.mark.parametrize("per_channel", [False, True])
def test_qlinear_conv_matches_onnxruntime(x_type: type, w_type: type, per_channel: bool
                                          ) -> None:
    x, w = _ints(x_type, (2, 4, 9, 8)), _ints(w_type, (6, 2, 3, 3))
    out = 6
    w_scale = (RNG.uniform(0.001, 0.01, out) if per_channel else np.array(0.004)).astype(
        np.float32)
    zero = 0 if w_type == np.int8 else 128
    w_zp = np.full(out, zero, w_type) if per_channel else np.array(zero, w_type)
    consts = {
        "xs": np.float32(0.02), "xz": np.array(3 if x_type == np.int8 else 120, x_type),
        "w": w, "ws": w_scale, "wz": w_zp, "ys": np.float32(0.05),
        "yz": np.array(-5 if x_type == np.int8 else 130, x_type),
        "b": RNG.integers(-3000, 3000, out).astype(np.int32),
    }
    model = _model("QLinearConv", {"x": x}, consts,
                   [("y", onnx.helper.np_dtype_to_tensor_dtype(np.dtype(x_type)))],
                   group=2, pads=[1, 0, 2, 1], strides=[1, 2])
    _same_as_onnxruntime(model, {"x": x})


def test_qlinear_conv_long_reduction_splits_the_weight() -> None:
    # 64 * 3 * 3 = 576 products of up to 255 * 255: beyond float32's exact 2**24 in one
    # convolution, exact in two (the weight in base-16 digits)
    x, w = _ints(np.uint8, (1, 64, 5, 5)), _ints(np.int8, (3, 64, 3, 3))
    consts = {"xs": np.float32(0.01), "xz": np.uint8(0), "w": w, "ws": np.float32(0.01),
              "wz": np.int8(0), "ys": np.float32(300.0), "yz": np.uint8(128)}
    model = _model("QLinearConv", {"x": x}, consts, [("y", TensorProto.UINT8)])
    _same_as_onnxruntime(model, {"x": x})


def test_conv_integer_too_long_reduction_is_refused() -> None:
    x, w = _ints(np.uint8, (1, 512, 3, 3)), _ints(np.uint8, (1, 512, 3, 3))
    model = _model("ConvInteger", {"x": x}, {"w": w}, [("y", TensorProto.INT32)])
    net = from_onnx(model, trace=False)
    with pytest.raises(ValueError, match="ConvInteger: a reduction over 4608 products"):
        net(mge.tensor(x))


def test_conv_integer_refuses_float_input() -> None:
    x, w = RNG.normal(size=(1, 1, 3, 3)).astype(np.float32), _ints(np.uint8, (1, 1, 2, 2))
    model = _model("ConvInteger", {"x": x}, {"w": w}, [("y", TensorProto.INT32)])
    with pytest.raises(Exception, match="ConvInteger input 0.*float32"):
        from_onnx(model, trace=False)
