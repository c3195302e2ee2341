"""mge.convert.to_onnx: sources, names, opsets, dynamic batch, float16, error paths and the
command line. Every exported model passes ``onnx.checker`` (to_onnx checks it) and is run
in onnxruntime against mge's own graph executor."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.convert import OnnxExportError, UnsupportedOpError, to_onnx
from mge.convert.cli import main, mge_main
from mge.convert.onnx.exporter.graph import load_converters
from mge.core.opdef import REGISTRY
from mge.graph.ir import Graph
from mge.jit import trace
from mge.ops import Elemwise
from mge.ops.reduce import Reduce
from mge.ops.utility import AssertEqual
from mge.runtime.executor import Executor
from mge.traced_module import TracedModule, trace_module

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "megengine"
SHARED = Path(__file__).resolve().parents[5] / "shared" / "models"
#: registered ops the exporter refuses, and why
EXPORT_GAPS = {"AssertEqual": "ONNX has no assertion op",
               "ElemwiseMultiType": "quantized graphs export whole, as QDQ (exporter.quantized)"}
EXPORT_GAPS.update({name: "a training op (a gradient): no ONNX lowering written"
                    for name in ("ConvolutionBackwardFilter", "BatchNormBackward",
                                 "PoolingBackward", "DeformableConvBackwardData",
                                 "DeformableConvBackwardFilter")})
EXPORT_GAPS["MatrixInverse"] = (
    "ONNX has no matrix inverse (only onnxruntime's com.microsoft Inverse, not standard)")
EXPORT_GAPS["SVD"] = "ONNX has no SVD"


def run_onnx(model: onnx.ModelProto | str, *inputs: np.ndarray) -> list[np.ndarray]:
    data = model if isinstance(model, str) else model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


class Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 8, 3, padding=1)
        self.bn = M.BatchNorm2d(8)
        self.fc = M.Linear(8, 5)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = F.relu(self.bn(self.conv(x)))
        y = F.flatten(F.adaptive_avg_pool2d(y, 1), 1)
        return F.softmax(self.fc(y), axis=1)


@pytest.fixture(scope="module")
def net_and_input() -> tuple[TracedModule, np.ndarray]:
    net = Net()
    net.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    return trace_module(net, mge.tensor(x)), x


# ------------------------------------------------------------------ coverage
def test_every_registered_op_has_a_converter_or_a_listed_gap() -> None:
    exported = {cls.type_name for cls in load_converters()}
    missing = sorted(set(REGISTRY) - exported - set(EXPORT_GAPS))
    assert not missing, f"ops without an ONNX converter: {missing}"
    assert set(EXPORT_GAPS) <= set(REGISTRY)


# ------------------------------------------------------------------ sources and names
def test_traced_module_matches_eager_and_keeps_names(net_and_input, tmp_path: Path) -> None:
    tm, x = net_and_input
    path = tmp_path / "net.onnx"
    model = to_onnx(tm, path, input_names=["data"], output_names=["prob"])
    assert [i.name for i in model.graph.input] == ["data"]
    assert [o.name for o in model.graph.output] == ["prob"]
    assert "BatchNormalization" not in {n.op_type for n in model.graph.node}  # folded
    (got,) = run_onnx(str(path), x)
    np.testing.assert_allclose(got, tm(mge.tensor(x)).numpy(), atol=1e-5)
    assert os.listdir(tmp_path) == ["net.onnx"]  # no temporary file left behind


def test_parameters_name_the_initializers(net_and_input) -> None:
    tm, _ = net_and_input
    names = {t.name for t in to_onnx(tm, optimize=False).graph.initializer}
    assert {"conv.weight", "fc.weight"} <= names


def test_traced_function_and_graph_sources(net_and_input) -> None:
    tm, x = net_and_input

    @trace(symbolic=True, capture_as_const=True)
    def pred(data, *, net):
        return {"scores": net(data)}

    pred(mge.tensor(x), net=tm)
    model = to_onnx(pred)
    assert [o.name for o in model.graph.output] == ["scores"]
    np.testing.assert_allclose(run_onnx(model, x)[0], tm(mge.tensor(x)).numpy(), atol=1e-5)
    assert len(to_onnx(pred.graph).graph.output) == 1


def test_pickled_traced_module_only_when_loaded_explicitly(net_and_input,
                                                          tmp_path: Path) -> None:
    tm, x = net_and_input
    pickled = tmp_path / "net.tm"
    mge.save(tm, pickled)
    np.testing.assert_allclose(run_onnx(to_onnx(mge.load(pickled)), x)[0],
                               tm(mge.tensor(x)).numpy(), atol=1e-5)
    with pytest.raises(OnnxExportError, match="is a Python pickle, not a .mge model"):
        to_onnx(str(pickled))


@pytest.mark.parametrize("name", ["preprocess", "resnet18_w4_fuse", "shufflenetv2_small",
                                  "mobilenetv2_small", "convnet_nchw44", "clip_bug"])
def test_megengine_files_match_the_executor(name: str) -> None:
    """Files real MegEngine 1.13 dumped (the docs' preprocessing in the model: uint8
    NHWC input, TypeCvt, WarpPerspective, Dimshuffle; the model zoo at reduced width)."""
    from mge.serialization.mge_graph import load_graph

    path = FIXTURES / f"{name}.mge"
    graph = load_graph(str(path)).graph
    rng = np.random.default_rng(1)
    feeds = [rng.integers(0, 256, v.shape).astype(v.dtype) if v.dtype == np.uint8
             else rng.standard_normal(v.shape).astype(v.dtype) * 3 for v in graph.inputs]
    model = to_onnx(str(path))
    assert [i.name for i in model.graph.input] == [v.name for v in graph.inputs]
    for got, want in zip(run_onnx(model, *feeds), Executor(graph).run(*feeds), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_clip_of_constants_becomes_onnx_clip() -> None:
    types = {n.op_type for n in to_onnx(str(FIXTURES / "mobilenetv2_small.mge")).graph.node}
    assert "Clip" in types and not {"Max", "Min"} & types


# ------------------------------------------------------------------ options
@pytest.mark.parametrize("opset", [13, 14, 17, 18, 21])
def test_opsets(net_and_input, opset: int) -> None:
    tm, x = net_and_input
    model = to_onnx(tm, opset=opset, optimize=False)
    assert model.opset_import[0].version == opset
    assert model.ir_version == onnx.helper.find_min_ir_version_for(list(model.opset_import))
    np.testing.assert_allclose(run_onnx(model, x)[0], tm(mge.tensor(x)).numpy(), atol=1e-5)


def test_reduce_axes_follow_the_opset() -> None:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    g.outputs = g.add_op(Reduce(mode="MAX", axis=1), [x])
    for opset, as_input in ((13, False), (18, True)):
        (node,) = to_onnx(g, opset=opset).graph.node
        assert (len(node.input) == 2) == as_input


def test_dynamic_batch_runs_other_batch_sizes() -> None:
    from mge.models import shufflenet_v2_x0_5

    net = shufflenet_v2_x0_5(input_size=32)  # reshapes that fold the batch into channels
    net.eval()
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    tm = trace_module(net, mge.tensor(x[:1]))
    model = to_onnx(tm, dynamic_batch=True)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    (got,) = run_onnx(model, x)
    np.testing.assert_allclose(got, net(mge.tensor(x)).numpy(), atol=1e-5)


@pytest.mark.parametrize("fmt, dtype", [("NHWC", "uint8"), ("NCHW", "float32")])
def test_dynamic_batch_warp_with_one_matrix_per_image(fmt: str, dtype: str) -> None:
    from mge.backends import get_backend
    from mge.ops.vision import WarpPerspectiveForward

    shape = (1, 12, 14, 3) if fmt == "NHWC" else (1, 3, 12, 14)
    g = Graph()
    src, mat = g.add_input("img", shape, dtype), g.add_input("mat", (1, 3, 3), "float32")
    op = WarpPerspectiveForward(format=fmt, dsize=(8, 9), bmode="REFLECT")
    g.outputs = g.add_op(op, [src, mat])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, *shape[1:])).astype(dtype)
    mats = np.tile(np.eye(3, dtype=np.float32), (3, 1, 1))
    mats[:, :2, :] += rng.uniform(-0.2, 0.2, (3, 2, 3)).astype(np.float32) * [1, 1, 10]
    (got,) = run_onnx(to_onnx(g, dynamic_batch=True), images, mats)
    np.testing.assert_array_equal(got, get_backend("numpy").run(op, [images, mats]))


def test_dynamic_batch_reports_what_bakes_the_batch() -> None:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (y,) = g.add_op(Reduce(mode="SUM", axis=1), [x])
    g.outputs = g.add_op(Elemwise(mode="ADD"), [y, g.add_const(np.ones((2, 1), np.float32))])
    with pytest.raises(UnsupportedOpError, match="dynamic_batch"):
        to_onnx(g, dynamic_batch=True)
    with pytest.raises(UnsupportedOpError, match="src and mat must both carry the batch"):
        to_onnx(str(FIXTURES / "preprocess.mge"), dynamic_batch=True)  # a constant matrix


def test_fp16_keeps_float32_io(net_and_input) -> None:
    tm, x = net_and_input
    model = to_onnx(tm, fp16=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    (got,) = run_onnx(model, x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, tm(mge.tensor(x)).numpy(), atol=5e-3)


# ------------------------------------------------------------------ round trip
def test_onnx_mge_onnx_round_trip_keeps_names_and_numerics(tmp_path: Path) -> None:
    source = SHARED / "mobilenet_v1_0.25_128.onnx"
    if not source.exists():
        pytest.skip("../shared/models is not available")
    x = np.load(SHARED / "reference" / "cat_128.npy")
    tm = mge.convert.from_onnx(str(source))
    model = to_onnx(tm, tmp_path / "again.onnx")
    original = onnx.load(str(source))
    assert [i.name for i in model.graph.input] == [i.name for i in original.graph.input]
    assert [o.name for o in model.graph.output] == [o.name for o in original.graph.output]
    for got, want in zip(run_onnx(model, x), run_onnx(str(source), x), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


# ------------------------------------------------------------------ errors
def _unsupported_graph() -> Graph:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (a,) = g.add_op(AssertEqual(), [x, x])
    (b,) = g.add_op(Elemwise(mode="RELU"), [a])
    (c,) = g.add_op(AssertEqual(), [b, x], name="second_check")
    g.outputs = [c]
    return g


def test_unsupported_ops_are_all_listed_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous")
    with pytest.raises(UnsupportedOpError) as info:
        to_onnx(_unsupported_graph(), out)
    problems = info.value.problems
    assert [p.op_type for p in problems] == ["AssertEqual", "AssertEqual"]
    assert problems[1].name == "second_check"
    assert "2 unsupported op(s)" in str(info.value) and "second_check" in str(info.value)
    assert out.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]


@pytest.mark.parametrize("opset", [12, 7, 10_000, "13", 13.0, True, None])
def test_bad_opset(net_and_input, tmp_path: Path, opset: object) -> None:
    tm, _ = net_and_input
    with pytest.raises(OnnxExportError, match="opset must be an int from 13"):
        to_onnx(tm, tmp_path / "m.onnx", opset=opset)
    assert not os.listdir(tmp_path)


def test_unwritable_output(net_and_input, tmp_path: Path) -> None:
    tm, _ = net_and_input
    with pytest.raises(OnnxExportError, match="does not exist"):
        to_onnx(tm, tmp_path / "missing" / "m.onnx")
    with pytest.raises(OnnxExportError, match="is a directory"):
        to_onnx(tm, tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OnnxExportError, match="does not exist"):
        to_onnx(tm, blocker / "m.onnx")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(OnnxExportError, match="not writable"):
            to_onnx(tm, locked / "m.onnx")
    assert sorted(os.listdir(tmp_path)) == ["file"] + (["locked"] if os.geteuid() else [])


def test_bad_sources_and_names(net_and_input, tmp_path: Path) -> None:
    tm, _ = net_and_input
    with pytest.raises(TypeError, match="trace it first"):
        to_onnx(Net())
    with pytest.raises(OnnxExportError, match="no such file"):
        to_onnx(tmp_path / "nothing.mge")
    with pytest.raises(OnnxExportError, match="1 graph input"):
        to_onnx(tm, input_names=["a", "b"])
    with pytest.raises(OnnxExportError, match="unique"):
        to_onnx(_two_outputs(), output_names=["y", "y"])
    train = trace_module(Net(), mge.tensor(np.zeros((2, 3, 8, 8), np.float32)))
    with pytest.raises(OnnxExportError, match="training mode"):
        to_onnx(train)


def _two_outputs() -> Graph:
    g = Graph()
    x = g.add_input("x", (2,), "float32")
    g.outputs = g.add_op(Elemwise(mode="RELU"), [x]) + g.add_op(Elemwise(mode="EXP"), [x])
    return g


def test_an_output_that_is_an_input_or_repeated() -> None:
    g = Graph()
    x = g.add_input("x", (2,), "float32")
    (y,) = g.add_op(Elemwise(mode="RELU"), [x])
    g.outputs = [y, x, y]
    model = to_onnx(g, output_names=["a", "b", "c"])
    v = np.array([-1.0, 2.0], np.float32)
    a, b, c = run_onnx(model, v)
    np.testing.assert_array_equal(a, [0, 2])
    np.testing.assert_array_equal(b, v)
    np.testing.assert_array_equal(c, [0, 2])


# ------------------------------------------------------------------ command line
def test_cli_exports(net_and_input, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tm, x = net_and_input
    pickled = tmp_path / "net.tm"
    mge.save(tm, pickled)
    out = tmp_path / "net.onnx"
    assert main(["tracedmodule_to_onnx", "-i", str(pickled), "-o", str(out), "--check",
                 "--input-names", "data", "--opset", "14"]) == 0
    assert "max abs difference vs mge" in capsys.readouterr().out
    assert [i.name for i in onnx.load(str(out)).graph.input] == ["data"]
    assert main(["mge_to_onnx", "-i", str(FIXTURES / "preprocess.mge"), "-o", str(out)]) == 0
    assert mge_main(["convert", str(FIXTURES / "preprocess.mge"), "-o", str(out)]) == 0
    assert main(["mge_to_onnx", "-i", str(FIXTURES / "preprocess.mge"), "-o", str(out),
                 "--opset", "9"]) == 2
    assert main(["tracedmodule_to_onnx", "-i", str(FIXTURES / "preprocess.mge"), "-o",
                 str(out)]) == 2
    assert mge_main(["run", "x"]) == 2


def test_cli_onnx_to_mge_and_back(tmp_path: Path) -> None:
    source = SHARED / "mobilenet_v1_0.25_128.onnx"
    if not source.exists():
        pytest.skip("../shared/models is not available")
    dumped, again = tmp_path / "v1.mge", tmp_path / "v1.onnx"
    assert mge_main(["convert", str(source), "-o", str(dumped)]) == 0
    assert mge_main(["convert", str(dumped), "-o", str(again), "--dynamic-batch"]) == 0
    x = np.load(SHARED / "reference" / "cat_128.npy")
    batch = np.concatenate([x, x[:, :, ::-1]])
    got = run_onnx(str(again), batch)
    want = [np.concatenate(parts) for parts in zip(*(run_onnx(str(source), b[None])
                                                     for b in batch))]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5)
    assert mge_main(["convert", str(dumped), "-o", str(tmp_path / "x.tm")]) == 2
