"""The int8 lowering's float tail (``mge/runtime/int8_tail.py``): the spatial mean of a
dequantized activation as the codes' integer sum, a classifier's bias ``ADD`` as its
``Gemm``'s ``C``, and chained ``Reshape`` nodes merged (``mge/runtime/int8_fuse.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.runtime.test_int8_fuse import _lowered

pytest.importorskip("onnxruntime")

SCALE = 0.05


def float_tail_head(expose_dequantized: bool = False, any_batch: bool = False) -> Any:
    """float (2, 4, 5, 5) -> int8 -> float -> Reduce MEAN axis 3 -> Reduce MEAN axis 2 ->
    1x1 Convolution (4 -> 6, no bias) -> ADD a constant (1, 6, 1, 1) -> Reshape (2, 6)
    (``any_batch``: Reshape (-1, 6), for any batch size)."""
    from mge.dtype import dtype_spec, qint8
    from mge.graph.ir import Graph
    from mge.ops.conv import ConvolutionForward
    from mge.ops.elemwise import Elemwise, TypeCvt
    from mge.ops.reduce import Reduce
    from mge.ops.shape import Reshape

    rng = np.random.default_rng(0)
    g = Graph()
    x = g.add_input("x", (2, 4, 5, 5), "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(SCALE))), [x])
    (real,) = g.add_op(TypeCvt(dtype="float32"), [q])
    (w_mean,) = g.add_op(Reduce(mode="MEAN", axis=3), [real])
    (mean,) = g.add_op(Reduce(mode="MEAN", axis=2), [w_mean])
    w = g.add_const(rng.normal(size=(6, 4, 1, 1)).astype("float32"))
    (logits,) = g.add_op(ConvolutionForward(), [mean, w])
    b = g.add_const(rng.normal(size=(1, 6, 1, 1)).astype("float32"))
    (biased,) = g.add_op(Elemwise(mode="ADD"), [logits, b])
    if any_batch:
        (flat,) = g.add_op(Reshape(shape=(-1, 6)), [biased])
    else:
        (flat,) = g.add_op(Reshape(), [biased, g.add_const(np.array([2, 6], "int32"))])
    g.outputs = [flat, real] if expose_dequantized else [flat]
    return g


def _reference(x: np.ndarray) -> np.ndarray:
    real = np.clip(np.rint(x / SCALE), -128, 127) * SCALE
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(6, 4)), rng.normal(size=(6,))
    return real.mean(axis=(2, 3)) @ w.T + b


@pytest.mark.parametrize("expose", [False, True])
def test_dequantized_mean_and_classifier_bias(expose: bool) -> None:
    """The mean of a dequantize read by nothing else is the codes' integer sum
    (``MatMulInteger``), scaled once; read elsewhere too, it is a float mean of the reals.
    Either way the bias ``ADD`` is the ``Gemm``'s ``C`` and one ``Reshape`` is left
    after it (the classifier's 4-d output and the graph's own ``Reshape`` merged)."""
    x = np.random.default_rng(1).normal(scale=2, size=(2, 4, 5, 5)).astype("float32")
    ops, outs = _lowered(float_tail_head(expose), x)
    np.testing.assert_allclose(outs[0], _reference(x), rtol=1e-5, atol=1e-5)
    assert ops["Gemm"] == 1 and ops["Add"] == 0
    if expose:
        assert ops["MatMulInteger"] == 0 and ops["ReduceMean"] == ops["DequantizeLinear"] == 1
        np.testing.assert_array_equal(outs[1], np.clip(np.rint(x / SCALE), -128, 127)
                                      .astype("float32") * np.float32(SCALE))
    else:
        assert ops["MatMulInteger"] == 1 and ops["ReduceMean"] == ops["DequantizeLinear"] == 0


def test_gemm_output_reshaped_once() -> None:
    from mge.runtime.int8_onnx import lower_to_onnx

    nodes = lower_to_onnx(float_tail_head()).graph.node
    gemm = next(k for k, n in enumerate(nodes) if n.op_type == "Gemm")
    assert [n.op_type for n in nodes[gemm + 1:]] == ["Reshape", "Identity"]


def test_merge_reshapes_keeps_a_shared_or_shape_dependent_one() -> None:
    """A chain of Reshape / Identity each read once becomes one Reshape; a middle read
    elsewhere too, or a target shape with 0 or -1, keeps its chain."""
    from onnx import helper, numpy_helper

    from mge.runtime.int8_fuse import merge_reshapes

    inits = [numpy_helper.from_array(np.array(s, np.int64), n)
             for n, s in (("s1", [6, 4]), ("s2", [24]), ("s3", [-1, 2]))]
    nodes = [helper.make_node("Reshape", ["x", "s1"], ["a"]),
             helper.make_node("Identity", ["a"], ["b"]),
             helper.make_node("Reshape", ["b", "s2"], ["c"]),
             helper.make_node("Reshape", ["c", "s3"], ["d"])]
    merged = merge_reshapes(nodes, inits)
    assert [(n.op_type, list(n.input)) for n in merged] == [
        ("Reshape", ["x", "s2"]), ("Reshape", ["c", "s3"])]
    shared = [helper.make_node("Reshape", ["x", "s1"], ["a"]),
              helper.make_node("Reshape", ["a", "s2"], ["c"]),
              helper.make_node("Relu", ["a"], ["r"])]
    assert len(merge_reshapes(shared, inits)) == 3
