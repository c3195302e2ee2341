"""Graph passes: each rewrite keeps values and lint, and produces MegEngine's op forms."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mge.graph import Graph
from mge.graph.interpreter import Executor
from mge.graph.passes import PASSES, optimize_for_inference, register_pass, run_passes
from mge.ops import Elemwise, TypeCvt
from mge.ops.conv import ConvBiasForward, ConvolutionForward
from mge.ops.nn import BatchNormForward, MatrixMul
from mge.ops.shape import Reshape

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed() -> None:
    """The same random weights whatever order the tests run in."""
    global RNG
    RNG = np.random.default_rng(0)


def _rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _ew(g: Graph, mode: str, *inputs):  # noqa: ANN002, ANN202
    return g.add_op(Elemwise(mode=mode), list(inputs))[0]


def _conv(g: Graph, x, oc: int, group: bool = False):  # noqa: ANN001, ANN202
    ic = x.shape[1]
    if group:
        w = g.add_const(_rand(ic, 1, 1, 3, 3))
        op = ConvolutionForward(pad_h=1, pad_w=1, sparse="GROUP")
    else:
        w = g.add_const(_rand(oc, ic, 3, 3))
        op = ConvolutionForward(pad_h=1, pad_w=1)
    return g.add_op(op, [x, w])[0]


def _bn(g: Graph, x):  # noqa: ANN001, ANN202
    c = x.shape[1]
    stats = [g.add_const(RNG.uniform(0.5, 1.5, (1, c, 1, 1)).astype(np.float32)),
             g.add_const(_rand(1, c, 1, 1)), g.add_const(_rand(1, c, 1, 1)),
             g.add_const(RNG.uniform(0.5, 1.5, (1, c, 1, 1)).astype(np.float32))]
    op = BatchNormForward(param_dim="DIM_1C11", fwd_mode="INFERENCE", epsilon=1e-5)
    return g.add_op(op, [x, *stats])[5]


def _check(g: Graph, names: list[str], rtol: float = 1e-5) -> Counter:
    """Run passes on a copy; the values stay, lint holds; returns the op type counts."""
    x = _rand(*g.inputs[0].shape)
    want = Executor(g).run(x)
    h = g.copy()
    run_passes(h, names)
    for a, b in zip(want, Executor(h).run(x), strict=True):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * max(1.0, np.abs(a).max()))
    return Counter(n.type if n.type != "Elemwise" else n.op.params()["mode"]
                   for n in h.ops() if n.type not in ("ImmutableTensor", "Host2DeviceCopy"))


def _conv_bn_relu(group: bool = False, residual: bool = False) -> Graph:
    g = Graph()
    x = g.add_input("x", (1, 4, 6, 6), "float32")
    y = _bn(g, _conv(g, x, 4, group))
    if residual:
        y = _ew(g, "ADD", y, x)
    g.outputs = [_ew(g, "RELU", y)]
    return g


@pytest.mark.parametrize("group", [False, True])
def test_bn_folds_into_the_convolution(group: bool) -> None:
    counts = _check(_conv_bn_relu(group), ["bn_to_elemwise", "fold_constants", "arith_reorder",
                                           "fold_conv_scale", "fold_constants", "arith_fuse"])
    assert counts == {"ConvolutionForward": 1, "FUSE_ADD_RELU": 1}


def test_conv_bias_nonlinearity_fusion() -> None:
    base = ["bn_to_elemwise", "fold_constants", "arith_reorder", "fold_conv_scale",
            "fold_constants", "arith_fuse"]
    assert _check(_conv_bn_relu(), [*base, "fuse_conv_bias"]) == {"ConvBiasForward": 1}
    # a residual becomes the full-shape bias, the BN shift stays outside (as MegEngine does)
    g = _conv_bn_relu(residual=True)
    assert _check(g, [*base, "fuse_conv_bias"]) == {"ConvBiasForward": 1, "FUSE_ADD_RELU": 1}
    h = g.copy()
    run_passes(h, [*base, "fuse_conv_bias"])
    (cb,) = [n for n in h.ops() if n.type == "ConvBiasForward"]
    assert cb.inputs[2] is h.inputs[0] and cb.op.params()["nonlineMode"] == "IDENTITY"


def test_conv_bias_z_fusion() -> None:
    g = Graph()
    x = g.add_input("x", (1, 4, 6, 6), "float32")
    w, b = g.add_const(_rand(4, 4, 3, 3)), g.add_const(_rand(1, 4, 1, 1))
    (cb,) = g.add_op(ConvBiasForward(pad_h=1, pad_w=1), [x, w, b])
    g.outputs = [_ew(g, "FUSE_ADD_RELU", cb, x)]
    assert _check(g, ["fuse_conv_bias_z"]) == {"ConvBiasForward": 1}
    h = g.copy()
    run_passes(h, ["fuse_conv_bias_z"])
    (node,) = [n for n in h.ops() if n.type == "ConvBiasForward"]
    assert node.inputs[3] is h.inputs[0] and node.op.params()["nonlineMode"] == "RELU"


@pytest.mark.parametrize(("mode", "nonline"), [("RELU", "RELU"), ("SIGMOID", "SIGMOID"),
                                               ("H_SWISH", "H_SWISH")])
def test_nonlinearity_of_a_bare_convolution(mode: str, nonline: str) -> None:
    g = Graph()
    x = g.add_input("x", (1, 3, 5, 5), "float32")
    g.outputs = [_ew(g, mode, _conv(g, x, 2))]
    assert _check(g, ["fuse_conv_bias"]) == {"ConvBiasForward": 1}
    h = g.copy()
    run_passes(h, ["fuse_conv_bias"])
    (cb,) = [n for n in h.ops() if n.type == "ConvBiasForward"]
    assert cb.op.params()["nonlineMode"] == nonline and len(cb.inputs) == 2


def test_shared_conv_output_is_not_fused() -> None:
    g = Graph()
    x = g.add_input("x", (1, 3, 5, 5), "float32")
    c = _conv(g, x, 2)
    g.outputs = [_ew(g, "RELU", c), c]
    assert _check(g, ["fuse_conv_bias"]) == {"ConvolutionForward": 1, "RELU": 1}


def test_arith_chains_fold_and_fuse() -> None:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    y = _ew(g, "SUB", x, g.add_const(_rand(3)))
    y = _ew(g, "TRUE_DIV", y, g.add_const(np.full(3, 4.0, np.float32)))
    y = _ew(g, "ADD", y, g.add_const(_rand(3)))
    y = _ew(g, "MUL", y, g.add_const(_rand(1, 3)))
    y = _ew(g, "ADD", y, x)
    g.outputs = [_ew(g, "SIGMOID", y)]
    counts = _check(g, ["arith_reorder", "fold_constants", "arith_fuse"])
    assert counts == {"FUSE_MUL_ADD3": 1, "FUSE_ADD_SIGMOID": 1}


def test_fma3_needs_a_bias_shaped_like_a_factor() -> None:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    k, b = g.add_const(_rand(1, 3)), g.add_const(_rand(1, 3))
    g.outputs = [_ew(g, "ADD", _ew(g, "MUL", x, k), b)]
    assert _check(g, ["arith_fuse"]) == {"FUSE_MUL_ADD3": 1}
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    g.outputs = [_ew(g, "ADD", _ew(g, "MUL", x, g.add_const(_rand(1, 3))),
                     g.add_const(_rand(2, 1)))]
    assert _check(g, ["arith_fuse"]) == {"MUL": 1, "ADD": 1}


def test_fold_constants_and_remove_noop() -> None:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    c = _ew(g, "EXP", g.add_const(_rand(3)))
    y = g.add_op(Reshape(shape=(2, 3)), [_ew(g, "ADD", x, c)])[0]
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [y])[0]]
    assert _check(g, ["remove_noop", "fold_constants"]) == {"ADD": 1}


def test_remove_noop_keeps_output_names() -> None:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    copy = g.add_op(Reshape(shape=(2, 3)), [x])[0]
    copy.name = "y"
    inner = _ew(g, "EXP", x)
    inner.name = "exp"
    z = g.add_op(TypeCvt(dtype="float32"), [inner])[0]
    z.name = "z"
    g.outputs = [copy, z]
    run_passes(g, ["remove_noop"])
    assert [v.name for v in g.outputs] == ["y", "z"]
    assert g.outputs[0] is not x and g.outputs[1] is inner


def test_equal_constants_are_never_merged_by_folding() -> None:
    g = Graph()
    x = g.add_input("x", (3,), "float32")
    a = _ew(g, "NEGATE", g.add_const(np.zeros(1, np.float32)))
    b = _ew(g, "NEGATE", g.add_const(np.zeros(1, np.float32)))
    g.outputs = [_ew(g, "MIN", _ew(g, "MAX", x, a), b)]
    run_passes(g, ["fold_constants"])
    consts = [n for n in g.ops() if n.type == "ImmutableTensor"]
    assert len(consts) == 2 and consts[0] is not consts[1]


@pytest.mark.parametrize("name", ["float16", "float16_io"])
def test_float16_passes(name: str) -> None:
    g = Graph()
    x = g.add_input("x", (1, 4, 6, 6), "float32")
    y = _ew(g, "RELU", _bn(g, _conv(g, x, 4)))
    flat = g.add_op(Reshape(shape=(1, -1)), [y])[0]
    w = g.add_const(_rand(144, 5))
    g.outputs = [g.add_op(MatrixMul(), [flat, w])[0]]
    _check(g, [name], rtol=3e-2)
    h = g.copy()
    run_passes(h, [name])
    assert h.inputs[0].dtype == np.float32 and h.outputs[0].dtype == np.float32
    first = [n for n in h.ops() if n.type != "Host2DeviceCopy" and not n.outputs[0].is_const][0]
    assert first.type == "TypeCvt" and first.outputs[0].dtype == np.float16
    assert h.outputs[0].owner.type == "TypeCvt"
    assert h.outputs[0].owner.inputs[0].dtype == np.float16
    modes = {n.op.params()["compute_mode"] for n in h.ops()
             if n.type in ("ConvolutionForward", "MatrixMul")}
    assert modes == ({"FLOAT32"} if name == "float16_io" else {"DEFAULT"})
    bn = [n for n in h.ops() if n.type == "BatchNormForward"]
    assert bn and bn[0].inputs[1].dtype == np.float16


def test_optimize_for_inference_copies_and_reports_bits() -> None:
    g = _conv_bn_relu(residual=True)
    before = str(g)
    h, bits = optimize_for_inference(g, enable_fuse_conv_bias_nonlinearity=True)
    assert str(g) == before and bits == 68
    assert {n.type for n in h.ops()} == {"Host2DeviceCopy", "ImmutableTensor",
                                          "ConvBiasForward", "Elemwise"}
    with pytest.raises(ValueError, match="unknown options"):
        optimize_for_inference(g, enable_everything=True)


def test_registry_runs_prerequisites_and_rejects_duplicates() -> None:
    g = _conv_bn_relu(residual=True)
    run_passes(g, ["fuse_conv_bias_z"])  # runs fuse_conv_bias first
    with pytest.raises(ValueError, match="registered twice"):
        register_pass("fold_constants")(lambda graph: False)
    with pytest.raises(KeyError, match="unknown pass 'nope'"):
        run_passes(g, ["nope"])
    assert PASSES["fuse_conv_bias_z"].requires == ("fuse_conv_bias",)


def test_conv_bias_with_constant_full_bias_is_kept() -> None:
    g = Graph()
    x = g.add_input("x", (1, 3, 5, 5), "float32")
    c = _conv(g, x, 2)
    g.outputs = [_ew(g, "ADD", c, g.add_const(_rand(1, 2, 5, 5)))]
    assert _check(g, ["fuse_conv_bias"]) == {"ConvolutionForward": 1, "ADD": 1}
    assert ConvBiasForward.type_name == "ConvBiasForward"
