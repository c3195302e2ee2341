"""mge.convert.to_onnx on quantized graphs: standard QDQ ONNX models.

MegEngine's own int8 dump (``tests/fixtures/int8``) and an mge PTQ Conv-BN-ReLU net,
exported, checked by ``onnx.checker``, run in onnxruntime and compared with mge.lite's
exact int8 kernels: within one quantization step of each output per quantizing layer
above it (ONNX rounds ties to even, MegEngine away from zero)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import mge
import mge.module as M
from mge.convert import OnnxExportError, to_onnx
from mge.convert.cli import main
from mge.dtype import get_scale, is_quantize
from mge.graph.ir import Graph, VarNode
from mge.jit import trace
from mge.ops.conv import ConvBiasForward
from mge.runtime.executor import Executor
from mge.runtime.int8_qdq import trace_qdq
from mge.serialization.mge_graph import load_graph
from mge.traced_module import trace_module
from tests.lite.runs import run_lite
from tests.quantization.conv_bn_relu_net import quantized_conv_bn_relu_net

INT8_CNN = Path(__file__).resolve().parents[3] / "fixtures" / "int8" / "int8_cnn.mge"


@pytest.fixture(scope="module")
def ptq_net() -> tuple[M.Module, np.ndarray]:
    """An mge PTQ (int8 layers) of :class:`ConvBnReluNet` and an input batch."""
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    return quantized_conv_bn_relu_net(x), x


@pytest.fixture(scope="module")
def ptq_dump(ptq_net: tuple[M.Module, np.ndarray],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """:func:`ptq_net` dumped as ``.mge``, and its input batch."""
    net, x = ptq_net

    @trace(symbolic=True, capture_as_const=True)
    def fn(data: mge.Tensor) -> mge.Tensor:
        return net(data)

    fn(mge.tensor(x))
    path = tmp_path_factory.mktemp("ptq") / "ptq.mge"
    fn.dump(str(path), arg_names=["data"])
    return path, x


def _int8_cnn() -> tuple[Path, np.ndarray]:
    return INT8_CNN, np.load(INT8_CNN.with_suffix(".npz"))["input"]


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {model.graph.input[0].name: x})


def _steps(graph: Graph, out: VarNode) -> tuple[float, int]:
    """The quantization step of an output (its own scale, or a float output's dequantized
    var's) and how many 8-bit quantizing ops lie above it."""
    producer = {v.id: n for n in graph.ops() for v in n.outputs}
    src = out if is_quantize(out.dtype) else producer[out.id].inputs[0]
    assert is_quantize(src.dtype), f"output {out.name} is not a dequantized var"
    seen, stack, layers = set(), [out], 0
    while stack:
        var = stack.pop()
        node = producer.get(var.id)
        if node is None or node.id in seen:
            continue
        seen.add(node.id)
        layers += any(is_quantize(v.dtype) and v.dtype.itemsize == 1 and not v.is_const
                      for v in node.outputs)
        stack.extend(node.inputs)
    return get_scale(src.dtype), layers


@pytest.mark.parametrize("source", ["megengine_int8_cnn", "mge_ptq"])
def test_qdq_export_runs_within_a_step_per_layer(source: str, ptq_dump: tuple[Path, np.ndarray],
                                                 tmp_path: Path) -> None:
    path, x = _int8_cnn() if source == "megengine_int8_cnn" else ptq_dump
    graph = load_graph(path).graph
    model = to_onnx(str(path), tmp_path / "q.onnx")
    onnx.checker.check_model(onnx.load(tmp_path / "q.onnx"), full_check=True)
    assert [i.name for i in model.graph.input] == [v.name for v in graph.inputs]
    assert [o.name for o in model.graph.output] == [v.name for v in graph.outputs]
    elem = onnx.TensorProto.FLOAT
    assert all(v.type.tensor_type.elem_type == elem
               for v in (*model.graph.input, *model.graph.output))
    got = _run(model, x)
    want = run_lite(path, x, backend="numpy")
    for var, g, w in zip(graph.outputs, got, want, strict=True):
        step, layers = _steps(graph, var)
        assert layers >= 1
        diff = np.abs(g - w).max()
        assert diff <= layers * step * (1 + 1e-5), (var.name, diff, step, layers)


@pytest.mark.parametrize("source", ["megengine_int8_cnn", "mge_ptq"])
def test_qdq_export_is_standard_qdq(source: str, ptq_dump: tuple[Path, np.ndarray]) -> None:
    """int8 activations and weights, int32 biases, every conv between DequantizeLinear
    inputs and QuantizeLinear readers (through at most a Relu), all in the ONNX domain."""
    path, _ = _int8_cnn() if source == "megengine_int8_cnn" else ptq_dump
    model = to_onnx(str(path))
    g = model.graph
    assert all(n.domain in ("", "ai.onnx") for n in g.node)
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    users: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    zero_points = {inits[n.input[2]].dtype for n in g.node
                   if n.op_type in ("QuantizeLinear", "DequantizeLinear")}
    assert zero_points == {np.dtype(np.int8), np.dtype(np.int32)}
    convs = [n for n in g.node if n.op_type == "Conv"]
    assert convs
    for conv in convs:
        x, w, b = (producer[i] for i in conv.input)
        assert x.op_type == w.op_type == b.op_type == "DequantizeLinear"
        assert inits[w.input[0]].dtype == np.int8 and inits[b.input[0]].dtype == np.int32
        w_scale, x_scale = inits[w.input[1]], inits[x.input[1]]
        np.testing.assert_allclose(inits[b.input[1]], x_scale * w_scale, rtol=1e-6)
        for after in users[conv.output[0]]:
            if after.op_type == "Relu":
                (after,) = users[after.output[0]]
            assert after.op_type == "QuantizeLinear"


def test_onnxruntime_runs_the_exported_convs_on_int8_kernels(
        ptq_dump: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    """onnxruntime (default options) fuses each Q/DQ-wrapped conv into a QLinearConv: the
    relu'd conv is quantized before its relu (:mod:`...exporter.qdq_pairs`)."""
    path, _ = ptq_dump
    model = to_onnx(str(path))
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(model.SerializeToString(), options,
                         providers=["CPUExecutionProvider"])
    ran = [n.op_type for n in onnx.load(tmp_path / "optimized.onnx").graph.node]
    convs = sum(n.op_type == "Conv" for n in model.graph.node)
    assert convs == 2 and ran.count("QLinearConv") == convs and "Conv" not in ran


def test_qdq_export_names_and_command_line(ptq_dump: tuple[Path, np.ndarray], tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    path, x = ptq_dump
    out = tmp_path / "named.onnx"
    assert main(["mge_to_onnx", "-i", str(path), "-o", str(out), "--input-names", "image",
                 "--output-names", "logits", "--check"]) == 0
    printed = capsys.readouterr().out
    assert "inputs ['image'], outputs ['logits']" in printed
    assert "max abs difference vs mge:" in printed
    model = onnx.load(out)
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["logits"]
    np.testing.assert_array_equal(_run(model, x)[0], _run(to_onnx(str(path)), x)[0])


def test_qdq_export_names_clashing_with_inner_values_are_kept(
        ptq_dump: tuple[Path, np.ndarray]) -> None:
    path, x = ptq_dump
    plain = to_onnx(str(path))
    inner = next(n.output[0] for n in plain.graph.node if n.op_type == "Conv")
    model = to_onnx(str(path), input_names=[inner], output_names=["out0"])
    assert [i.name for i in model.graph.input] == [inner]
    np.testing.assert_array_equal(_run(model, x)[0], _run(plain, x)[0])


def test_qdq_export_refuses_fp16(tmp_path: Path) -> None:
    """(``dynamic_batch``: ``test_export_quantized_batch.py``)"""
    with pytest.raises(OnnxExportError, match="fp16"):
        to_onnx(str(INT8_CNN), tmp_path / "q.onnx", fp16=True)
    assert not (tmp_path / "q.onnx").exists()


def test_qdq_export_opset_is_at_least_the_lowerings() -> None:
    assert to_onnx(str(INT8_CNN), opset=13).opset_import[0].version == 18
    assert to_onnx(str(INT8_CNN), opset=20).opset_import[0].version == 20


def test_qdq_export_names_an_op_it_cannot_express() -> None:
    graph = load_graph(INT8_CNN).graph
    conv = next(n for n in graph.ops() if isinstance(n.op, ConvBiasForward))
    conv.op = dataclasses.replace(conv.op, nonlineMode="SIGMOID")
    with pytest.raises(OnnxExportError, match="ConvBias.*nonlinearity SIGMOID"):
        to_onnx(graph)


def _quantized_edges() -> Graph:
    """``int8_cnn`` from its input's int8 codes to its first output's int8 codes."""
    graph = load_graph(INT8_CNN).graph
    producer = {v.id: n for n in graph.ops() for v in n.outputs}
    (reader,) = [n for n in graph.ops() if graph.inputs[0] in n.inputs]
    quantized = reader.outputs[0]
    codes = graph.add_input("codes", quantized.shape, quantized.dtype)
    graph.replace_var(quantized, codes)
    graph.inputs = [codes]
    graph.outputs = [producer[graph.outputs[0].id].inputs[0]]
    graph.outputs[0].name = "out_codes"
    return graph


def test_qdq_export_quantized_edges_are_codes() -> None:
    graph = _quantized_edges()
    assert is_quantize(graph.inputs[0].dtype) and is_quantize(graph.outputs[0].dtype)
    model = to_onnx(graph)
    int8 = onnx.TensorProto.INT8
    assert [(v.name, v.type.tensor_type.elem_type) for v in
            (*model.graph.input, *model.graph.output)] == [("codes", int8), ("out_codes", int8)]
    x = np.random.default_rng(1).integers(-128, 128, graph.inputs[0].shape).astype(np.int8)
    (got,) = _run(model, x)
    (want,) = Executor(graph).run(x.astype(graph.inputs[0].dtype))
    _, layers = _steps(graph, graph.outputs[0])
    assert got.dtype == np.int8
    assert np.abs(got.astype(np.int32) - np.asarray(want).astype(np.int32)).max() <= layers


@pytest.mark.parametrize("source", ["megengine_int8_cnn", "mge_ptq"])
def test_fusable_pairs_change_no_value(source: str, ptq_dump: tuple[Path, np.ndarray]) -> None:
    """The pairs added for onnxruntime's fusion quantize values already on their grid:
    unoptimized, the export computes what the plain lowering does, bit for bit."""
    path, x = _int8_cnn() if source == "megengine_int8_cnn" else ptq_dump
    plain = trace_qdq(load_graph(path).graph, shift=False, int32_bias=True).model
    exported = to_onnx(str(path))
    assert len(exported.graph.node) > len(plain.graph.node)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    runs = [ort.InferenceSession(m.SerializeToString(), options,
                                 providers=["CPUExecutionProvider"]).run(None, {
                                     m.graph.input[0].name: x}) for m in (plain, exported)]
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_qdq_export_of_a_quantized_traced_module(ptq_net: tuple[M.Module, np.ndarray],
                                                 ptq_dump: tuple[Path, np.ndarray]) -> None:
    """A TracedModule of int8 layers (its bias cast to QuantizedS32 is folded) exports as
    the dump of the same net does."""
    net, x = ptq_net
    model = to_onnx(trace_module(net, mge.tensor(x)))
    (got,) = _run(model, x)
    (dumped,) = _run(to_onnx(str(ptq_dump[0])), x)
    np.testing.assert_array_equal(got, dumped)
