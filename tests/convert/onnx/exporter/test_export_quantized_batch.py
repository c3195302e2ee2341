"""mge.convert.to_onnx(dynamic_batch=True) on quantized graphs: QDQ models whose batch is
free.

At batch 1, 3 and 8, onnxruntime and OpenVINO run the dynamic export with outputs equal,
bit for bit, to the static export of the graph specialized to that batch (each engine
against itself). Four graphs: MegEngine's own int8 dumps (a shape chain into a
``Reshape``, a quantized ``MatrixMul``; a narrow ShuffleNetV1: 5-D channel shuffles, a
quantized ``Concat``), an mge PTQ Conv-BN-ReLU net, a float tail
(a spatial mean pair, a 1x1 classifier lowered as ``Gemm``, a ``Reshape``), and float ops
written by their op homes' export rules (``mge/runtime/int8_float.py``: a ``Broadcast``
whose static target holds the batch size)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import mge
from mge.convert import OnnxExportError, to_onnx
from mge.convert.cli import main
from mge.dtype import dtype_spec, qint8
from mge.graph.ir import Graph
from mge.graph.specialize import specialize
from mge.jit import trace
from mge.ops.elemwise import Elemwise, TypeCvt
from mge.ops.reduce import Reduce
from mge.ops.shape import Broadcast, Reshape
from mge.serialization.mge_graph import load_graph
from tests.quantization.conv_bn_relu_net import quantized_conv_bn_relu_net
from tests.runtime.test_int8_tail import float_tail_head

INT8_CNN = Path(__file__).resolve().parents[3] / "fixtures" / "int8" / "int8_cnn.mge"
#: MegEngine's dump of a narrow ShuffleNetV1 (channel shuffles, a quantized Concat)
SHUFFLENET = INT8_CNN.with_name("int8_shufflenet.mge")
BATCHES = (1, 3, 8)


def _ptq_graph(tmp_path: Path) -> Graph:
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    net = quantized_conv_bn_relu_net(x)

    @trace(symbolic=True, capture_as_const=True)
    def fn(data: mge.Tensor) -> mge.Tensor:
        return net(data)

    fn(mge.tensor(x[:2]))
    fn.dump(str(tmp_path / "ptq.mge"), arg_names=["data"])
    return load_graph(tmp_path / "ptq.mge").graph


def _float_tail(_: Path) -> Graph:
    """``tests/runtime/test_int8_tail.py``'s float tail, flattened for any batch."""
    return float_tail_head(any_batch=True)


def _bridged_float(_: Path) -> Graph:
    """float (2, 4, 5, 5) -> int8 -> float -> MEAN over W -> Broadcast back to (2, 4, 5, 5)
    -> SUB from the reals -> int8 -> float -> Reshape (-1, 100): the MEAN, Broadcast and
    SUB go to their op homes' export rules (the int8 lowerings have no form of their own
    for them); a static ``Expand`` target would hold the batch size 2."""
    g = Graph()
    x = g.add_input("x", (2, 4, 5, 5), "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(0.05))), [x])
    (real,) = g.add_op(TypeCvt(dtype="float32"), [q])
    (mean,) = g.add_op(Reduce(mode="MEAN", axis=3), [real])
    (spread,) = g.add_op(Broadcast(shape=(2, 4, 5, 5)), [mean])
    (centred,) = g.add_op(Elemwise(mode="SUB"), [real, spread])
    (q2,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(0.02))), [centred])
    (real2,) = g.add_op(TypeCvt(dtype="float32"), [q2])
    (flat,) = g.add_op(Reshape(shape=(-1, 100)), [real2])
    g.outputs = [flat]
    return g


GRAPHS: dict[str, Callable[[Path], Graph]] = {
    "megengine_int8_cnn": lambda _: load_graph(INT8_CNN).graph,
    "megengine_shufflenet": lambda _: load_graph(SHUFFLENET).graph,
    "mge_ptq": _ptq_graph,
    "float_tail": _float_tail,
    "bridged_float": _bridged_float,
}


def _ort(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {model.graph.input[0].name: x})


def _openvino(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    compiled = core.compile_model(core.read_model(model.SerializeToString(), b""), "CPU",
                                  {"INFERENCE_PRECISION_HINT": "f32"})
    results = compiled.create_infer_request().infer({0: x})
    return [results[out] for out in compiled.outputs]


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize("engine", [_ort, _openvino], ids=["onnxruntime", "openvino"])
@pytest.mark.parametrize("source", sorted(GRAPHS))
def test_dynamic_batch_export_equals_the_static_one_at_each_batch(
        source: str, engine: Callable, tmp_path: Path) -> None:
    graph = GRAPHS[source](tmp_path)
    dynamic = to_onnx(graph, dynamic_batch=True)
    onnx.checker.check_model(dynamic, full_check=True)
    name = graph.inputs[0].name
    rng = np.random.default_rng(1)
    for batch in BATCHES:
        x = rng.normal(scale=2, size=(batch, *graph.inputs[0].shape[1:])).astype(np.float32)
        static = to_onnx(specialize(graph, {name: x.shape}))
        got, want = engine(dynamic, x), engine(static, x)
        assert len(got) == len(want) == len(graph.outputs)
        for g, w in zip(got, want, strict=True):
            assert g.shape[0] == batch
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("source", sorted(GRAPHS))
def test_dynamic_batch_dims_are_symbolic_as_in_a_float_export(source: str,
                                                             tmp_path: Path) -> None:
    """Every input and output has the float export's symbolic batch dim on axis 0, and
    no ``Reshape`` target holds a batch size (each has its ``-1`` there)."""
    graph = GRAPHS[source](tmp_path)
    model = to_onnx(graph, dynamic_batch=True)
    float_model = to_onnx(_dequantized_input(graph), dynamic_batch=True)
    batch_name = _dims(float_model.graph.input[0])[0]
    assert isinstance(batch_name, str)
    for value, var in zip((*model.graph.input, *model.graph.output),
                          (*graph.inputs, *graph.outputs), strict=True):
        assert _dims(value) == [batch_name, *var.shape[1:]]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    targets = [inits[n.input[1]] for n in model.graph.node if n.op_type == "Reshape"]
    assert all(t[0] == -1 for t in targets)
    assert targets or source == "mge_ptq"  # (convolutions and an add only)
    static = to_onnx(graph)
    assert len(static.graph.node) == len(model.graph.node)


def _dequantized_input(graph: Graph) -> Graph:
    """A float graph of ``graph``'s input shape (for the float export's batch dim name)."""
    g = Graph()
    x = g.add_input(graph.inputs[0].name, graph.inputs[0].shape, "float32")
    (y,) = g.add_op(Elemwise(mode="RELU"), [x])
    g.outputs = [y]
    return g


def test_dynamic_batch_refuses_a_graph_that_bakes_the_batch_in() -> None:
    """A constant holding the batch size (an ADD of a (2, 1, 1, 1) tensor) cannot follow
    a free batch: refused, naming the op and the reason; nothing is written."""
    g = Graph()
    x = g.add_input("x", (2, 4, 5, 5), "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(0.05))), [x])
    (real,) = g.add_op(TypeCvt(dtype="float32"), [q])
    per_image = g.add_const(np.arange(2, dtype=np.float32).reshape(2, 1, 1, 1))
    (y,) = g.add_op(Elemwise(mode="ADD"), [real, per_image])
    g.outputs = [y]
    to_onnx(g)  # static: fine
    with pytest.raises(OnnxExportError, match=r"Elemwise .*batch size 2 baked in"):
        to_onnx(g, dynamic_batch=True)


def test_dynamic_batch_command_line_with_check(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """``--check`` runs the file at the ``.mge``'s batch: the same difference from mge as
    the static export's; the file runs at another batch."""
    reports = []
    for options in ([], ["--dynamic-batch"]):
        out = tmp_path / f"q{len(options)}.onnx"
        assert main(["mge_to_onnx", "-i", str(INT8_CNN), "-o", str(out), *options,
                     "--check"]) == 0
        reports.append(capsys.readouterr().out.split("max abs difference vs mge:")[1])
    assert reports[0] == reports[1]
    x = np.random.default_rng(2).standard_normal((5, 3, 8, 8)).astype(np.float32)
    assert [o.shape[0] for o in _ort(onnx.load(out), x)] == [5, 5, 5]
