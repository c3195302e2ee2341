"""ONNX quantization ops imported with exact integer semantics, checked bit for bit
against onnxruntime (half-to-even ties, saturation, per-axis parameters, long
reductions) and refused where mge cannot be exact."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import mge  # noqa: E402
from mge.convert import OnnxError, from_onnx  # noqa: E402

OPSET = 13
RNG = np.random.default_rng(0)


def _model(op: str, inputs: dict[str, np.ndarray], consts: dict[str, np.ndarray],
           outputs: list[tuple[str, int]], **attrs: object) -> onnx.ModelProto:
    node = helper.make_node(op, [*inputs, *consts], [n for n, _ in outputs], **attrs)
    graph = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for n, v in inputs.items()],
        [helper.make_tensor_value_info(n, t, None) for n, t in outputs],
        [numpy_helper.from_array(v, n) for n, v in consts.items()],
    )
    opsets = [helper.make_opsetid("", OPSET)]
    return helper.make_model(graph, opset_imports=opsets,
                             ir_version=onnx.helper.find_min_ir_version_for(opsets))


def _same_as_onnxruntime(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> None:
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, inputs)
    got = from_onnx(model, trace=False)(*(mge.tensor(v) for v in inputs.values()))
    got = got if isinstance(got, tuple) else (got,)
    for g, w in zip(got, want, strict=True):
        assert g.numpy().dtype == w.dtype
        np.testing.assert_array_equal(g.numpy(), w)


@pytest.mark.parametrize("zp", [np.uint8(128), np.int8(-3)])
def test_quantize_linear_rounds_half_to_even_and_saturates(zp: np.generic) -> None:
    x = np.concatenate([np.arange(-8, 8) * 0.25 + 0.125, RNG.normal(0, 40, 64)]).astype(
        np.float32)  # x / 0.25 hits every .5 tie; the normal tail saturates
    model = _model("QuantizeLinear", {"x": x}, {"s": np.float32(0.25), "z": np.array(zp)},
                   [("y", helper.np_dtype_to_tensor_dtype(np.array(zp).dtype))])
    _same_as_onnxruntime(model, {"x": x})


def test_quantize_dequantize_per_axis() -> None:
    x = RNG.normal(0, 2, (2, 3, 4)).astype(np.float32)
    scale = np.array([0.01, 0.05, 0.2], np.float32)
    zp = np.array([0, -10, 7], np.int8)
    q = _model("QuantizeLinear", {"x": x}, {"s": scale, "z": zp}, [("y", TensorProto.INT8)],
               axis=1)
    _same_as_onnxruntime(q, {"x": x})
    xq = RNG.integers(-128, 128, (2, 3, 4)).astype(np.int8)
    dq = _model("DequantizeLinear", {"x": xq}, {"s": scale, "z": zp},
                [("y", TensorProto.FLOAT)], axis=1)
    _same_as_onnxruntime(dq, {"x": xq})


def test_dynamic_quantize_linear() -> None:
    x = RNG.normal(0.5, 3, (4, 17)).astype(np.float32)
    model = _model("DynamicQuantizeLinear", {"x": x}, {},
                   [("y", TensorProto.UINT8), ("s", TensorProto.FLOAT),
                    ("z", TensorProto.UINT8)])
    _same_as_onnxruntime(model, {"x": x})


@pytest.mark.parametrize("k", [7, 600])  # 600 * 255 * 255 > 2**24: split, still exact
def test_matmul_integer_is_exact(k: int) -> None:
    a = RNG.integers(0, 256, (3, k)).astype(np.uint8)
    b = RNG.integers(-128, 128, (k, 5)).astype(np.int8)
    model = _model("MatMulInteger", {"a": a, "b": b},
                   {"az": np.uint8(131), "bz": np.int8(-7)}, [("y", TensorProto.INT32)])
    _same_as_onnxruntime(model, {"a": a, "b": b})


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_matmul(dtype: type) -> None:
    info = np.iinfo(dtype)
    a = RNG.integers(info.min, info.max + 1, (2, 4, 64)).astype(dtype)
    b = RNG.integers(info.min, info.max + 1, (64, 8)).astype(dtype)
    consts = {"as": np.float32(0.02), "az": np.array(3, dtype), "b_s": np.float32(0.01),
              "bz": np.array(-1 if dtype is np.int8 else 120, dtype),
              "ys": np.float32(0.7), "yz": np.array(5, dtype)}
    graph_consts = [numpy_helper.from_array(v, n) for n, v in consts.items()]
    node = helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "b_s", "bz", "ys", "yz"],
                            ["y"])
    graph = helper.make_graph(
        [node], "qmm",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for n, v in (("a", a), ("b", b))],
        [helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(
            np.dtype(dtype)), None)], graph_consts)
    opsets = [helper.make_opsetid("", OPSET)]
    model = helper.make_model(graph, opset_imports=opsets,
                              ir_version=onnx.helper.find_min_ir_version_for(opsets))
    _same_as_onnxruntime(model, {"a": a, "b": b})


def test_too_long_reduction_is_refused() -> None:
    k = 4200  # 4200 * 255 * 16 >= 2**24: no exact float32 split
    a = np.ones((1, k), np.uint8)
    b = np.ones((k, 1), np.uint8)
    net = from_onnx(_model("MatMulInteger", {"a": a, "b": b}, {}, [("y", TensorProto.INT32)]),
                    trace=False)
    with pytest.raises(ValueError, match="MatMulInteger: a reduction over 4200"):
        net(mge.tensor(a), mge.tensor(b))


def test_blocked_quantization_is_refused_at_import() -> None:
    x = np.zeros((2, 4), np.float32)
    model = _model("QuantizeLinear", {"x": x},
                   {"s": np.ones((2, 2), np.float32), "z": np.zeros((2, 2), np.uint8)},
                   [("y", TensorProto.UINT8)], axis=1, block_size=2)
    model.opset_import[0].version = 21
    model.ir_version = onnx.helper.find_min_ir_version_for(list(model.opset_import))
    with pytest.raises(OnnxError, match="block_size"):
        from_onnx(model, trace=False)
