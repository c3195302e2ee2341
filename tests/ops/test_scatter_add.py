"""``IndexingIncrMultiAxisVec`` (the scatter-add behind advanced indexing's gradient):
repeated positions add up on every backend; its ONNX form (opset 16's ScatterND with
``reduction="add"``) runs in onnxruntime; the gradient of ``x[idx]`` with repeated
indices counts every use."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.autodiff import GradManager
from mge.backends import available_backends, get_backend
from mge.ops.shape import IndexingIncrMultiAxisVec

VEC = (0, None, None, None, True)


@pytest.mark.parametrize("backend", [b for b in ("numpy", "torch") if b in available_backends()])
def test_repeated_positions_add_up(backend: str) -> None:
    x = np.zeros((3, 2), np.float32)
    value = np.ones((4, 2), np.float32)
    index = np.array([1, 1, -1, 1], np.int32)
    b = get_backend(backend)
    out = b.to_numpy(b.run(IndexingIncrMultiAxisVec(items=(VEC,)),
                           [b.asarray(a) for a in (x, value, index)]))
    np.testing.assert_array_equal(out, [[0, 0], [3, 3], [1, 1]])


def test_onnx_form_at_opset_17() -> None:
    ort = pytest.importorskip("onnxruntime")
    from mge.convert.onnx.exporter import export_graph
    from mge.graph.ir import Graph

    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(3, 4, 5)).astype(np.float32),
              rng.normal(size=(3, 4)).astype(np.float32),
              np.array([0, 2, 0, -1], np.int32), np.array([4, 4, 0, 4], np.int32)]
    op = IndexingIncrMultiAxisVec(items=((1, None, None, None, True), (2, None, None, None, True)))
    graph = Graph()
    inputs = [graph.add_input(f"x{k}", a.shape, a.dtype) for k, a in enumerate(arrays)]
    graph.outputs = graph.add_op(op, inputs)
    model = export_graph(graph, opset=17, fold=False)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {f"x{k}": a for k, a in enumerate(arrays)})[0]
    want = get_backend("numpy").run(op, arrays)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_gradient_of_repeated_indexing_counts_every_use() -> None:
    x = mge.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    gm = GradManager().attach([x])
    with gm:
        y = x[:, [0, 2, 0, 0]]
        gm.backward(F.sum(y * mge.tensor([1.0, 2.0, 3.0, 4.0])))
    np.testing.assert_array_equal(x.grad.numpy(), [[8, 0, 2], [8, 0, 2]])
