"""The ``onnxruntime-int8`` plan backend: quantized graphs on onnxruntime's integer kernels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge.lite as L
from mge.runtime.int8_onnx import Int8Unsupported, lower_to_onnx
from mge.serialization.mge_graph import load_graph

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "int8"


def _run(backend: str) -> tuple[list[np.ndarray], dict]:
    ref = dict(np.load(FIXTURES / "int8_cnn.npz"))
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    net.load(str(FIXTURES / "int8_cnn.mge"))
    net.get_io_tensor(net.get_all_input_name()[0]).set_data_by_copy(ref["input"])
    net.forward()
    net.wait()
    return [net.get_io_tensor(n).to_numpy() for n in net.get_all_output_name()], ref


def test_int8_cnn_on_onnxruntime_within_one_step() -> None:
    pytest.importorskip("onnxruntime")
    outs, ref = _run("onnxruntime-int8")
    for k, out in enumerate(outs):
        want = ref[f"lite/{k}"]
        levels = np.unique(np.abs(want[want != 0]))
        step = levels.min()
        assert np.abs(out - want).max() <= step * 1.0001, f"output {k}"


def test_lowering_uses_integer_kernels_on_uint8_activations() -> None:
    pytest.importorskip("onnx")
    model = lower_to_onnx(load_graph(FIXTURES / "int8_cnn.mge").graph)
    ops = {n.op_type for n in model.graph.node}
    assert {"QLinearConv", "MatMulInteger", "QuantizeLinear"} <= ops
    assert "Conv" not in ops and "MatMul" not in ops


def test_lowering_names_what_it_cannot_run() -> None:
    pytest.importorskip("onnx")
    from mge.graph.ir import Graph
    from mge.ops.reduce import Reduce

    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (y,) = g.add_op(Reduce(mode="SUM", axis=0), [x])
    g.outputs = [y]
    with pytest.raises(Int8Unsupported, match="Reduce"):
        lower_to_onnx(g)
