"""ONNX forms written beyond the op table's opset 13 run: ``DeformableConvForward`` as
ONNX's ``DeformConv`` (opset 19) against the numpy kernel, and ``CondTake``'s exported
length following the mask given at run time (mge's op fixes it when traced)."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.backends import load_backend
from mge.convert.onnx import UnsupportedOpError
from mge.convert.onnx.exporter import export_graph
from mge.graph.ir import Graph
from mge.jit import trace

from .test_op_table import CASES

ort = pytest.importorskip("onnxruntime")
DEFORMABLE = [c for c in CASES if c.op.type_name == "DeformableConvForward"]


def _one_op_model(case, opset: int):  # noqa: ANN001, ANN202 - (case, opset) -> ModelProto
    graph = Graph()
    inputs = [graph.add_input(f"x{k}", x.shape, x.dtype) for k, x in enumerate(case.inputs)]
    graph.outputs = graph.add_op(case.op, inputs)
    return export_graph(graph, opset=opset, fold=False)


@pytest.mark.parametrize("case", DEFORMABLE, ids=lambda c: c.id)
def test_deformable_conv_as_onnx_deform_conv(case) -> None:  # noqa: ANN001
    with pytest.raises(UnsupportedOpError, match="opset 19"):
        _one_op_model(case, 13)
    model = _one_op_model(case, 19)
    assert "DeformConv" in {n.op_type for n in model.graph.node}
    try:
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - older onnxruntime builds lack the kernel
        if "DeformConv" not in str(exc):
            raise
        pytest.skip(f"this onnxruntime ({ort.__version__}) has no DeformConv kernel")
    (got,) = session.run(None, {f"x{k}": x for k, x in enumerate(case.inputs)})
    want = load_backend("numpy").run(case.op, list(case.inputs))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_cond_take_length_follows_the_mask_in_onnx() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def take(x):  # noqa: ANN001, ANN202
        return F.cond_take(x > 0, x)

    traced = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, 0.0]], np.float32)
    take(mge.tensor(traced))
    session = ort.InferenceSession(export_graph(take.graph).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    other = np.array([[-1.0, 2.0, 3.0], [4.0, 5.0, -0.5]], np.float32)
    values, index = session.run(None, {session.get_inputs()[0].name: other})
    np.testing.assert_array_equal(values, other[other > 0])
    np.testing.assert_array_equal(index, np.flatnonzero(other > 0).astype(np.int32))
