"""ONNX export of MatrixMul: a product by a constant transposed float32 weight (a
``Linear``) is one ``Gemm(transB=1)`` reading the weight as stored, its bias as ``C``;
onnxruntime computes it exactly as the ``MatMul`` on a transposed copy plus ``Add`` it
fuses itself; other products stay ``MatMul``."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

import mge
import mge.functional as F
import mge.module as M
from mge.convert import to_onnx
from mge.traced_module import trace_module


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _matmul_add(weight: np.ndarray, bias: np.ndarray) -> onnx.ModelProto:
    """``x @ weight.T + bias`` as ``MatMul`` on a transposed copy and ``Add``."""
    n, k = weight.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "wt"], ["m"]), helper.make_node("Add", ["m", "b"],
                                                                          ["y"])],
        "linear", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, k])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, n])],
        [numpy_helper.from_array(np.ascontiguousarray(weight.T), "wt"),
         numpy_helper.from_array(bias, "b")])
    opsets = [helper.make_opsetid("", 17)]  # the IR version onnxruntime reads, not onnx's newest
    return helper.make_model(graph, opset_imports=opsets,
                             ir_version=helper.find_min_ir_version_for(opsets))


@pytest.mark.parametrize("bias", [True, False])
def test_linear_is_one_gemm_on_the_stored_weight(bias: bool) -> None:
    fc = M.Linear(64, 10, bias=bias)
    net = M.Sequential(fc)
    net.eval()
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    model = to_onnx(trace_module(net, mge.tensor(x)), optimize=False)
    nodes = [n for n in model.graph.node if n.op_type != "Identity"]
    assert [n.op_type for n in nodes] == ["Gemm"]
    (gemm,) = nodes
    assert helper.get_attribute_value(gemm.attribute[0]) == 1  # transB
    assert len(gemm.input) == (3 if bias else 2)
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(weights[gemm.input[1]], fc.weight.numpy())  # as stored
    got = _run(model, x)
    np.testing.assert_allclose(got, fc(mge.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)
    if bias:
        expected = _run(_matmul_add(fc.weight.numpy(), fc.bias.numpy().reshape(-1)), x)
        np.testing.assert_array_equal(got, expected)


def test_other_products_stay_matmul() -> None:
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((4, 6)).astype(np.float32) for _ in range(2))

    class Product(M.Module):
        def forward(self, a: mge.Tensor, b: mge.Tensor) -> mge.Tensor:
            return F.matmul(a, b, transpose_b=True) + 1.0

    model = to_onnx(trace_module(Product(), mge.tensor(a), mge.tensor(b)), optimize=False)
    ops = [n.op_type for n in model.graph.node]
    assert "Gemm" not in ops and "MatMul" in ops
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    (got,) = session.run(None, dict(zip(names, (a, b), strict=True)))
    np.testing.assert_allclose(got, a @ b.T + 1.0, rtol=1e-5, atol=1e-6)
