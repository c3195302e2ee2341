"""Run-time operands and dynamic shapes in ONNX import: ``Shape`` of a dynamic value, and
nodes whose steering operands (shapes, bounds, repeats, weights) are computed at run time."""

from __future__ import annotations

import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import mge  # noqa: E402
from mge import lite  # noqa: E402
from mge.convert import from_onnx  # noqa: E402
from mge.convert.onnx.importer.mge_file import onnx_to_mge_bytes  # noqa: E402
from mge.core.tensor import megbrain_graph as G  # noqa: E402


def _model(nodes: list, inputs: list, output: str) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs,
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)])
    opsets = [helper.make_opsetid("", 17)]  # with its IR version: onnxruntime 1.23 (the
    # newest for Python 3.10) refuses the newest IR version onnx writes by default
    return helper.make_model(graph, opset_imports=opsets,
                             ir_version=helper.find_min_ir_version_for(opsets))


def _check(model: onnx.ModelProto, feeds_per_run: list[dict[str, np.ndarray]]) -> None:
    session = ort.InferenceSession(model.SerializeToString())
    net = from_onnx(model, trace=False)
    for feeds in feeds_per_run:
        (ref,) = session.run(None, feeds)
        out = net(*(mge.tensor(feeds[name]) for name in net.input_names)).numpy()
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_flatten_by_shape_chain_runs_at_any_batch() -> None:
    """``x.view(x.size(0), -1)`` as exported: Shape -> Gather -> Unsqueeze -> Concat."""
    i64 = helper.make_tensor
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3, 4])],
                   "y")
    model.graph.initializer.extend([
        i64("zero", TensorProto.INT64, [], [0]),
        i64("axes", TensorProto.INT64, [1], [0]),
        i64("minus_one", TensorProto.INT64, [1], [-1]),
    ])
    rng = np.random.default_rng(0)
    _check(model, [{"x": rng.standard_normal((b, 3, 4), dtype=np.float32)} for b in (2, 5)])


def test_operands_fed_as_graph_inputs() -> None:
    """Slice bounds and Tile repeats given at run time, changing between runs."""
    nodes = [
        helper.make_node("Slice", ["x", "starts", "ends"], ["s"]),
        helper.make_node("Tile", ["s", "reps"], ["y"]),
    ]
    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, [2])
            for n in ("starts", "ends", "reps")]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 5]),
                           *ints], "y")
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    runs = [(0, 1, 3, 4, 1, 2), (1, -3, 4, 5, 2, 1)]
    _check(model, [{"x": x, "starts": np.array(r[:2]), "ends": np.array(r[2:4]),
                    "reps": np.array(r[4:])} for r in runs])


def test_data_operand_is_refused_in_a_traced_graph() -> None:
    """A Reshape shape computed from tensor values cannot be frozen into a .mge file."""
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"])]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                           helper.make_tensor_value_info("shape", TensorProto.INT64, [2])], "y")
    with pytest.raises(ValueError, match="computed from tensor values"):
        onnx_to_mge_bytes(model)


def _exported(module: object, example: np.ndarray, axes: dict[int, str]) -> bytes:
    torch = pytest.importorskip("torch")
    buffer = io.BytesIO()
    torch.onnx.export(module, torch.from_numpy(example), buffer, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": axes}, opset_version=17,
                      dynamo=False)
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["view", "resnet", "encoder", "shufflenet", "transformer"])
def test_torch_exports_with_dynamic_axes(name: str) -> None:
    """Issue 21: torch exports with dynamic batch (and spatial / sequence) axes run at two
    sizes within 1e-4 of onnxruntime."""
    pytest.importorskip("torch")
    from .torch_models import dynamic_models

    module, shapes, axes = dynamic_models()[name]
    rng = np.random.default_rng(0)
    data = _exported(module, rng.standard_normal(shapes[0], dtype=np.float32), axes)
    session = ort.InferenceSession(data)
    net = from_onnx(data, trace=False)
    for shape in shapes:
        x = rng.standard_normal(shape, dtype=np.float32)
        (ref,) = session.run(None, {"x": x})
        out = net(mge.tensor(x)).numpy()
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def _run_lite(model: bytes, x: np.ndarray) -> np.ndarray:
    net = lite.LiteNetwork()
    net.load(model)
    net.get_io_tensor(net.get_input_name(0)).set_data_by_copy(x)
    net.forward()
    net.wait()
    return net.get_io_tensor(net.get_output_name(0)).to_numpy()


def test_shape_chain_reshape_follows_the_batch_through_mge_file() -> None:
    """``x.view(x.size(0), -1)`` as torch exports it (Shape, Gather, Unsqueeze, Concat,
    Reshape) becomes a GetVarShape-based graph: its .mge file runs at other batches."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Constant", [], ["i"], value=helper.make_tensor("i", TensorProto.INT64,
                                                                          [], [0])),
        helper.make_node("Gather", ["s", "i"], ["b"], axis=0),
        helper.make_node("Constant", [], ["ax"], value=helper.make_tensor(
            "ax", TensorProto.INT64, [1], [0])),
        helper.make_node("Unsqueeze", ["b", "ax"], ["b1"]),
        helper.make_node("Constant", [], ["m1"], value=helper.make_tensor(
            "m1", TensorProto.INT64, [1], [-1])),
        helper.make_node("Concat", ["b1", "m1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                         ["batch", 3, "h"])], "y")
    data = onnx_to_mge_bytes(model)
    graph = G.load_graph(io.BytesIO(data)).graph
    assert "GetVarShape" in {n.type for n in graph.ops()}
    for shape in [(1, 3, 1), (4, 3, 5)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        np.testing.assert_array_equal(_run_lite(data, x), x.reshape(shape[0], -1))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["view", "resnet", "encoder", "shufflenet", "transformer"])
def test_torch_exports_with_dynamic_axes_through_mge_file(name: str) -> None:
    """Issues 15/21: the same exports dumped to .mge (traced once at size 1 on the dynamic
    axes) run in mge.lite at two other sizes within 1e-4 of onnxruntime."""
    pytest.importorskip("torch")
    from .torch_models import dynamic_models

    module, shapes, axes = dynamic_models()[name]
    rng = np.random.default_rng(0)
    data = _exported(module, rng.standard_normal(shapes[0], dtype=np.float32), axes)
    session = ort.InferenceSession(data)
    model = onnx_to_mge_bytes(data)
    for shape in shapes:
        x = rng.standard_normal(shape, dtype=np.float32)
        (ref,) = session.run(None, {"x": x})
        out = _run_lite(model, x)
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
