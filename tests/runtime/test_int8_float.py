"""Float ops inside quantized graphs on the int8 plans (``mge/runtime/int8_float.py``): a
float ``MatrixMul`` head and a softmax after the logits (a float ``Padding`` and average
pooling before them) are written by their op homes' ONNX rules, on ``onnxruntime-int8``
and ``openvino-int8`` alike; a quantized op with no form is still refused by name."""

from __future__ import annotations

import collections
import importlib.util
import warnings
from typing import Any

import numpy as np
import pytest

from mge.runtime.int8_onnx import Int8Unsupported

pytest.importorskip("onnxruntime")

IN_SCALE, OUT_SCALE = 0.02, 0.05
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
INT8_PLANS = ["onnxruntime-int8", pytest.param(
    "openvino-int8", marks=pytest.mark.skipif(not HAS_OPENVINO, reason="no openvino"))]


def _graph(float_pool: bool) -> Any:
    """float (2, 3, 8, 8) -> int8 -> 3x3 ConvBias (3 -> 8, RELU, int32 bias) -> float
    [-> Padding 1 of 0.25 -> 2x2 average pooling] -> Reduce MEAN over W then H -> Reshape
    (2, 8) -> MatrixMul by a (10, 8) weight (transposed) -> ADD a bias -> Softmax; outputs
    the logits and the probabilities."""
    from mge.dtype import dtype_spec, qint8, qint32
    from mge.graph.ir import Graph
    from mge.ops.conv import ConvBiasForward
    from mge.ops.elemwise import Elemwise, TypeCvt
    from mge.ops.nn import MatrixMul, SoftmaxForward
    from mge.ops.pooling import PoolingForward
    from mge.ops.reduce import Reduce
    from mge.ops.shape import Padding, Reshape

    rng = np.random.default_rng(5)
    g = Graph()
    x = g.add_input("x", (2, 3, 8, 8), "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(IN_SCALE))), [x])
    w = rng.integers(-127, 128, (8, 3, 3, 3)).astype(qint8(0.01))
    b = rng.integers(-3000, 3000, (1, 8, 1, 1)).astype(qint32(IN_SCALE * 0.01))
    head_w, head_b = _head()
    (c,) = g.add_op(ConvBiasForward(dtype=dtype_spec(qint8(OUT_SCALE)), pad_h=1, pad_w=1,
                                    nonlineMode="RELU"), [q, g.add_const(w), g.add_const(b)])
    (real,) = g.add_op(TypeCvt(dtype="float32"), [c])
    real_out = real
    if float_pool:
        (real,) = g.add_op(Padding(front_offset_dim2=1, back_offset_dim2=1, front_offset_dim3=1,
                                   back_offset_dim3=1, padding_mode="CONSTANT",
                                   padding_val=0.25), [real])
        (real,) = g.add_op(PoolingForward(mode="AVERAGE", window_h=2, window_w=2, stride_h=2,
                                          stride_w=2), [real])
    (w_mean,) = g.add_op(Reduce(mode="MEAN", axis=3), [real])
    (mean,) = g.add_op(Reduce(mode="MEAN", axis=2), [w_mean])
    (flat,) = g.add_op(Reshape(), [mean, g.add_const(np.array([2, 8], "int32"))])
    weight = g.add_const(head_w)
    (prod,) = g.add_op(MatrixMul(transposeB=True), [flat, weight])
    bias = g.add_const(head_b)
    (logits,) = g.add_op(Elemwise(mode="ADD"), [prod, bias])
    (probs,) = g.add_op(SoftmaxForward(axis=1), [logits])
    g.outputs = [real_out, logits, probs]
    return g


def _head() -> tuple[np.ndarray, np.ndarray]:
    """The float head's (10, 8) weight and (1, 10) bias."""
    rng = np.random.default_rng(7)
    return rng.normal(size=(10, 8)).astype("float32"), rng.normal(size=(1, 10)).astype("float32")


def _float_part(real: np.ndarray, float_pool: bool) -> tuple[np.ndarray, np.ndarray]:
    """The logits and probabilities of :func:`_graph` from its dequantized conv output,
    in float64."""
    real = real.astype(np.float64)
    if float_pool:
        real = np.pad(real, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=0.25)
        n, c, h, w = real.shape
        real = real.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    weight, bias = _head()
    logits = real.mean(axis=(2, 3)) @ weight.T.astype(np.float64) + bias
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return logits, e / e.sum(axis=1, keepdims=True)


def _run(graph: Any, backend: str, x: np.ndarray) -> list[np.ndarray]:
    from mge.runtime.plan import Plan, PlanOptions

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to the numpy kernels
        return Plan(graph, PlanOptions(backend=backend, threads=1)).run(x)


@pytest.mark.parametrize("float_pool", [False, True])
@pytest.mark.parametrize("backend", INT8_PLANS)
def test_float_head_and_softmax_run_on_the_int8_plans(backend: str, float_pool: bool) -> None:
    """The quantized conv's codes are MegEngine's within one step (rounding ties: each
    engine requantizes with its own factor); the float head and softmax after them agree
    with float64 arithmetic on the plan's own codes to float32 rounding."""
    x = np.random.default_rng(6).normal(size=(2, 3, 8, 8)).astype("float32")
    graph = _graph(float_pool)
    want = _run(graph, "numpy", x)
    got = _run(graph, backend, x)
    assert np.abs(got[0] - want[0]).max() <= OUT_SCALE * 1.0001
    logits, probs = _float_part(got[0], float_pool)
    np.testing.assert_allclose(got[1], logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[2], probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_float_part(want[0], float_pool)[1], want[2], rtol=1e-5,
                               atol=1e-6)  # the reference is the graph's


@pytest.mark.parametrize("float_pool", [False, True])
def test_float_ops_take_their_op_homes_forms(float_pool: bool) -> None:
    """The float matrix product is the home's ``Gemm`` (its weight read as stored), the
    softmax ONNX's ``Softmax``; the quantized conv stays on integer kernels."""
    from mge.runtime.int8_onnx import lower_to_onnx
    from mge.runtime.int8_qdq import lower_to_qdq

    models = {"onnx": lower_to_onnx(_graph(float_pool)), "qdq": lower_to_qdq(_graph(float_pool))}
    for kind, model in models.items():
        ops = collections.Counter(n.op_type for n in model.graph.node)
        assert ops["Gemm"] == ops["Softmax"] == 1 and ops["MatMul"] == 0, kind
        assert ops["AveragePool"] == int(float_pool), kind
        assert ops["QLinearConv" if kind == "onnx" else "Conv"] == 1, kind


def _quantized_max() -> Any:
    """A ``Reduce`` MAX of int8 codes: neither lowering has a form for it."""
    from mge.dtype import dtype_spec, qint8
    from mge.graph.ir import Graph
    from mge.ops.elemwise import TypeCvt
    from mge.ops.reduce import Reduce

    g = Graph()
    x = g.add_input("x", (2, 4), "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(0.1))), [x])
    (y,) = g.add_op(Reduce(mode="MAX", axis=1), [q])
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [y])[0]]
    return g


def test_a_quantized_op_without_a_form_is_named() -> None:
    """A quantized op stays the lowerings' own (never a float op home's rule): refused by
    name, and the plans say which op they cannot run."""
    from mge.runtime.int8_onnx import lower_to_onnx
    from mge.runtime.int8_qdq import lower_to_qdq
    from mge.runtime.plan import Plan, PlanOptions

    for lower in (lower_to_onnx, lower_to_qdq):
        with pytest.raises(Int8Unsupported, match=r"Reduce MAX on QuantizedS8\(scale=0.1\)"):
            lower(_quantized_max())
    with pytest.warns(UserWarning, match="cannot lower Reduce MAX on QuantizedS8"):
        Plan(_quantized_max(), PlanOptions(backend="onnxruntime-int8"))
    if HAS_OPENVINO:
        with pytest.raises(NotImplementedError, match="no OpenVINO form for Reduce MAX on "):
            Plan(_quantized_max(), PlanOptions(backend="openvino-int8"))


def test_a_float_op_without_an_export_rule_is_named() -> None:
    """A float op whose home has no ONNX rule is refused by name too."""
    from mge.graph.ir import Graph
    from mge.ops.nn import MatrixInverse
    from mge.runtime.int8_onnx import lower_to_onnx

    g = Graph()
    x = g.add_input("x", (3, 3), "float32")
    (y,) = g.add_op(MatrixInverse(), [x])
    g.outputs = [y]
    with pytest.raises(Int8Unsupported, match="MatrixInverse on float32"):
        lower_to_onnx(g)
