"""ONNX semantics that imports once got wrong without an error (issue 21): each case runs
eagerly and as ``.mge`` + mge.lite and must match onnxruntime, or be refused clearly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mge.convert import OnnxError, UnsupportedOnnxError, from_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mge.convert.onnx.backend import MgeBackend, MgeLiteBackend  # noqa: E402

BACKENDS = [MgeBackend, MgeLiteBackend]


def _model(nodes: list[Any], inputs: dict[str, tuple[int, list[int]]],
           outputs: dict[str, tuple[int, list[int] | None]], opset: int = 13,
           initializers: dict[str, np.ndarray] | None = None) -> Any:
    graph = helper.make_graph(
        nodes, "case",
        [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()],
        [helper.make_tensor_value_info(n, t, s) for n, (t, s) in outputs.items()],
        [numpy_helper.from_array(v, n) for n, v in (initializers or {}).items()])
    opsets = [helper.make_opsetid("", opset)]
    # the IR version of the opset, not the newest onnx knows: older onnxruntimes (the newest
    # for Python 3.10 is 1.23) refuse IR versions newer than theirs
    return helper.make_model(graph, opset_imports=opsets,
                             ir_version=helper.find_min_ir_version_for(opsets))


def _onnxruntime(model: Any, feeds: list[np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, feeds)))


def _check(backend: Any, model: Any, feeds: list[np.ndarray]) -> list[np.ndarray]:
    got = backend.prepare(model).run(feeds)
    want = _onnxruntime(model, feeds)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    return list(got)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_div_rounds_toward_zero(backend: Any, dtype: type) -> None:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    model = _model([helper.make_node("Div", ["a", "b"], ["y"])],
                   {"a": (elem, [5]), "b": (elem, [5])}, {"y": (elem, [5])})
    a = np.array([-7, 7, -7, 7, -8], dtype)
    b = np.array([2, 2, -2, -2, 3], dtype)
    (y,) = _check(backend, model, [a, b])
    assert y.tolist() == [-3, 3, 3, -3, -2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_div_stays_true_division(backend: Any) -> None:
    model = _model([helper.make_node("Div", ["a", "b"], ["y"])],
                   {"a": (TensorProto.FLOAT, [3]), "b": (TensorProto.FLOAT, [3])},
                   {"y": (TensorProto.FLOAT, [3])})
    _check(backend, model, [np.array([-7, 7, 1], np.float32), np.array([2, -2, 3], np.float32)])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sizes", [[1, 1, 3, 1], [1, 1, 1, 3], [1, 1, 1, 1], [1, 1, 6, 2]])
def test_resize_pytorch_half_pixel_output_axis_of_length_one(backend: Any,
                                                             sizes: list[int]) -> None:
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
                            coordinate_transformation_mode="pytorch_half_pixel")
    model = _model([node], {"x": (TensorProto.FLOAT, [1, 1, 4, 4])},
                   {"y": (TensorProto.FLOAT, sizes)}, opset=13,
                   initializers={"sizes": np.array(sizes, np.int64)})
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    (y,) = _check(backend, model, [x])
    if sizes == [1, 1, 3, 1]:
        np.testing.assert_allclose(y.reshape(-1), [2 / 3, 6, 34 / 3], rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_matmul_of_two_vectors_is_a_scalar(backend: Any) -> None:
    model = _model([helper.make_node("MatMul", ["a", "b"], ["y"])],
                   {"a": (TensorProto.FLOAT, [3]), "b": (TensorProto.FLOAT, [3])},
                   {"y": (TensorProto.FLOAT, [])})
    (y,) = _check(backend, model, [np.arange(3, dtype=np.float32)] * 2)
    assert y.shape == () and float(y) == 5.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("base", "exponent"), [(np.int32, np.int32), (np.int64, np.float32),
                                                (np.float32, np.int64)])
def test_pow_keeps_the_base_type(backend: Any, base: type, exponent: type) -> None:
    elem = {t: helper.np_dtype_to_tensor_dtype(np.dtype(t)) for t in (base, exponent)}
    model = _model([helper.make_node("Pow", ["x", "y"], ["z"])],
                   {"x": (elem[base], [4]), "y": (elem[exponent], [4])},
                   {"z": (elem[base], [4])})
    _check(backend, model, [np.array([1, 2, 3, 5], base), np.array([4, 5, 6, 3], exponent)])


def _dropout(training: bool) -> Any:
    node = helper.make_node("Dropout", ["x", "ratio", "training"], ["y"])
    return _model([node], {"x": (TensorProto.FLOAT, [4])}, {"y": (TensorProto.FLOAT, [4])},
                  initializers={"ratio": np.array(0.5, np.float32),
                                "training": np.array(training)})


def test_dropout_in_training_mode_is_refused() -> None:
    with pytest.raises(UnsupportedOnnxError, match="training_mode=True"):
        from_onnx(_dropout(True), trace=False)
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(MgeBackend.prepare(_dropout(False)).run([x])[0], x)


def test_sequence_inputs_are_refused() -> None:
    seq = helper.make_tensor_sequence_value_info("xs", TensorProto.FLOAT, [2])
    node = helper.make_node("ConcatFromSequence", ["xs"], ["y"], axis=0)
    graph = helper.make_graph([node], "seq", [seq],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(UnsupportedOnnxError, match="graph input .'xs'.: sequence-typed"):
        from_onnx(model, trace=False)


def test_float64_graphs_are_refused() -> None:
    model = _model([helper.make_node("Mul", ["a", "a"], ["y"])],
                   {"a": (TensorProto.DOUBLE, [1])}, {"y": (TensorProto.DOUBLE, [1])})
    with pytest.raises(UnsupportedOnnxError, match="'a' is DOUBLE.*no mge backend computes "
                                                   "in float64") as info:
        from_onnx(model, trace=False)
    assert isinstance(info.value, OnnxError) and isinstance(info.value, ValueError)
    cast = _model([helper.make_node("Cast", ["a"], ["y"], to=TensorProto.DOUBLE)],
                  {"a": (TensorProto.FLOAT, [1])}, {"y": (TensorProto.DOUBLE, [1])})
    with pytest.raises(UnsupportedOnnxError, match="Cast .*DOUBLE"):
        from_onnx(cast, trace=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gather_with_runtime_token_ids(backend: Any) -> None:
    table = np.arange(20, dtype=np.float32).reshape(5, 4)
    model = _model([helper.make_node("Gather", ["table", "ids"], ["y"], axis=0)],
                   {"ids": (TensorProto.INT64, [2, 3])}, {"y": (TensorProto.FLOAT, [2, 3, 4])},
                   initializers={"table": table})
    (y,) = _check(backend, model, [np.array([[0, 4, -1], [2, 2, 1]], np.int64)])
    np.testing.assert_array_equal(y[0, 1], table[4])


@pytest.mark.parametrize("backend", BACKENDS)
def test_matmul_broadcasts_batch_dims(backend: Any) -> None:
    model = _model([helper.make_node("MatMul", ["a", "b"], ["y"])],
                   {"a": (TensorProto.FLOAT, [3, 1, 2, 4]), "b": (TensorProto.FLOAT, [1, 2, 4, 5])},
                   {"y": (TensorProto.FLOAT, [3, 2, 2, 5])})
    rng = np.random.default_rng(0)
    _check(backend, model, [rng.standard_normal((3, 1, 2, 4), np.float32),
                            rng.standard_normal((1, 2, 4, 5), np.float32)])


def test_mge_file_keeps_input_and_output_names_of_identity_graphs() -> None:
    from mge.convert.onnx.importer.mge_file import onnx_to_mge_bytes
    from mge.serialization.mge_graph import graph_from_bytes

    model = _model([helper.make_node("Identity", ["x"], ["y"])],
                   {"x": (TensorProto.FLOAT, [2])}, {"y": (TensorProto.FLOAT, [2])})
    graph = graph_from_bytes(onnx_to_mge_bytes(model)).graph
    assert [v.name for v in graph.inputs] == ["x"]
    assert [v.name for v in graph.outputs] == ["y"]
