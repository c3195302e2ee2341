"""ONNX ops the importer composes from MegEngine ops (issue 21) where ONNX's own backend
cases cannot reach them (their test graphs are float64) or reach only a few inputs:
eager and ``.mge`` + mge.lite against numpy, onnxruntime or ONNX's reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mge.convert import UnsupportedOnnxError, from_onnx

from .test_semantics import BACKENDS, _check, _model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

FLOAT = TensorProto.FLOAT


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("equation", "shapes"), [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("ij->", [(2, 3)]), ("i,j->ij", [(2,), (3,)]),
    ("...ii->...i", [(2, 3, 3)]), ("...ij,...jk", [(2, 1, 2, 3), (5, 3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("bhid,bhjd->bhij", [(2, 3, 4, 5), (2, 3, 6, 5)]),
])
def test_einsum_matches_numpy(backend: Any, equation: str,
                              shapes: list[tuple[int, ...]]) -> None:
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    names = [f"x{i}" for i in range(len(xs))]
    want = np.einsum(equation, *xs)
    model = _model([helper.make_node("Einsum", names, ["y"], equation=equation)],
                   {n: (FLOAT, list(x.shape)) for n, x in zip(names, xs)},
                   {"y": (FLOAT, list(want.shape))}, opset=12)
    (y,) = backend.prepare(model).run(xs)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["linear", "nearest", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [0, 1])
def test_grid_sample_matches_onnx_reference_far_outside(mode: str, padding: str,
                                                        align_corners: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    grid = rng.uniform(-2.5, 2.5, (2, 4, 3, 2)).astype(np.float32)
    node = helper.make_node("GridSample", ["x", "g"], ["y"], mode=mode, padding_mode=padding,
                            align_corners=align_corners)
    model = _model([node], {"x": (FLOAT, [2, 3, 5, 4]), "g": (FLOAT, [2, 4, 3, 2])},
                   {"y": (FLOAT, [2, 3, 4, 3])}, opset=22)
    want = ReferenceEvaluator(model).run(None, {"x": x, "g": grid})[0]
    got = from_onnx(model, trace=False)(x, grid).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.uint8])
def test_bitwise_ops_match_numpy(backend: Any, dtype: type) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(2)
    a, b = (rng.integers(info.min, info.max, 16, endpoint=True).astype(dtype) for _ in "ab")
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    nodes = [helper.make_node(f"Bitwise{op}", ["a", "b"][:count], [op])
             for op, count in (("And", 2), ("Or", 2), ("Xor", 2), ("Not", 1))]
    model = _model(nodes, {"a": (elem, [16]), "b": (elem, [16])},
                   {op: (elem, [16]) for op in ("And", "Or", "Xor", "Not")}, opset=18)
    got = backend.prepare(model).run([a, b])
    want = [np.bitwise_and(a, b), np.bitwise_or(a, b), np.bitwise_xor(a, b), np.invert(a)]
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.tolist() == w.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_det_with_pivoting_and_singular_matrices(backend: Any) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 3)).astype(np.float32)
    x[0, :, 0] = 0  # singular: a zero column
    x[1] = [[0, 1, 2], [3, 4, 5], [6, 7, 9]]  # needs a row swap
    model = _model([helper.make_node("Det", ["x"], ["y"])], {"x": (FLOAT, [4, 3, 3])},
                   {"y": (FLOAT, [4])})
    (y,) = backend.prepare(model).run([x])
    np.testing.assert_allclose(y, np.linalg.det(x.astype(np.float64)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_elements_reductions_with_duplicates(backend: Any, reduction: str) -> None:
    node = helper.make_node("ScatterElements", ["x", "i", "u"], ["y"], axis=1,
                            reduction=reduction)
    # duplicate targets accumulate under a reduction (their order is unspecified without)
    index = [[1, 1, -1], [0, 2, 2]] if reduction != "none" else [[1, 0, -1], [0, 2, 1]]
    model = _model([node], {"x": (FLOAT, [2, 4]), "u": (FLOAT, [2, 3])}, {"y": (FLOAT, [2, 4])},
                   opset=18, initializers={"i": np.array(index, np.int64)})
    x = np.arange(8, dtype=np.float32).reshape(2, 4) + 1
    u = np.array([[2.0, -3.0, 5.0], [7.0, 0.5, 4.0]], np.float32)
    _check(backend, model, [x, u])


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_indices_match_onnxruntime(backend: Any) -> None:
    node = helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[3, 2], strides=[2, 1],
                            pads=[1, 0, 1, 1])
    model = _model([node], {"x": (FLOAT, [2, 3, 6, 5])},
                   {"y": (FLOAT, [2, 3, 3, 5]), "i": (TensorProto.INT64, [2, 3, 3, 5])},
                   opset=12)
    x = np.random.default_rng(4).integers(0, 4, (2, 3, 6, 5)).astype(np.float32)  # ties
    _check(backend, model, [x])


def test_max_unpool_with_output_shape_is_refused() -> None:
    node = helper.make_node("MaxUnpool", ["x", "i", "s"], ["y"], kernel_shape=[2, 2],
                            strides=[2, 2])
    model = _model([node], {"x": (FLOAT, [1, 1, 2, 2]), "i": (TensorProto.INT64, [1, 1, 2, 2])},
                   {"y": (FLOAT, [1, 1, 5, 5])}, opset=11,
                   initializers={"s": np.array([1, 1, 5, 5], np.int64)})
    with pytest.raises(UnsupportedOnnxError, match="output_shape"):
        from_onnx(model, trace=False)


def _if_model() -> Any:
    """``y = x + 1`` if ``c`` else ``x * 2``: the branches read ``x`` of the outer graph."""
    one = helper.make_tensor("one", FLOAT, [], [1.0])
    then = helper.make_graph([helper.make_node("Add", ["x", "one"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", FLOAT, [2])], [one])
    two = helper.make_tensor("two", FLOAT, [], [2.0])
    other = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", FLOAT, [2])], [two])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    return _model([node], {"c": (TensorProto.BOOL, []), "x": (FLOAT, [2])}, {"y": (FLOAT, [2])},
                  opset=11)


@pytest.mark.parametrize("cond", [True, False])
def test_if_runs_the_branch_its_condition_picks(cond: bool) -> None:
    x = np.array([1.0, 3.0], np.float32)
    net = from_onnx(_if_model(), trace=False)
    got = net(np.array(cond), x).numpy()
    np.testing.assert_array_equal(got, x + 1 if cond else x * 2)


def test_if_on_a_tensor_condition_is_refused_when_traced() -> None:
    with pytest.raises(ValueError, match="If condition"):
        from_onnx(_if_model(), trace=True)


def test_nested_if_reads_a_value_two_scopes_up() -> None:
    """The inner If's branch reads ``x`` of the top graph, which the outer branch never
    names: the outer branch must still receive it (ONNX's expanded AffineGrid does this)."""
    inner = _if_model().graph.node[0]  # y = x + 1 if c else x * 2, reads x and c
    outer_then = helper.make_graph([inner], "outer_then", [],
                                   [helper.make_tensor_value_info("y", FLOAT, [2])])
    outer_else = helper.make_graph([helper.make_node("Neg", ["x"], ["z"])], "outer_else", [],
                                   [helper.make_tensor_value_info("z", FLOAT, [2])])
    node = helper.make_node("If", ["d"], ["out"], then_branch=outer_then,
                            else_branch=outer_else)
    model = _model([node], {"d": (TensorProto.BOOL, []), "c": (TensorProto.BOOL, []),
                            "x": (FLOAT, [2])}, {"out": (FLOAT, [2])}, opset=11)
    net = from_onnx(model, trace=False)
    x = np.array([1.0, 3.0], np.float32)
    np.testing.assert_array_equal(net(np.array(True), np.array(False), x).numpy(), x * 2)
    np.testing.assert_array_equal(net(np.array(False), np.array(True), x).numpy(), -x)
