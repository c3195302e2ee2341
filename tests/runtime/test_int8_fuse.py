"""The int8 lowering's float tail forms (``mge/runtime/int8_onnx.py``): a spatial mean
pair as ``GlobalAveragePool`` and a 1x1 classifier conv on a 1x1 image as ``Gemm``;
other reductions stay as they are."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnxruntime")


def _tail(second: str = "MEAN", expose_first: bool = False) -> Any:
    """float (2, 8, 5, 5) -> Reduce MEAN axis 2 -> Reduce ``second`` axis 3 -> 1x1
    ConvBias (8 -> 6, bias, relu)."""
    from mge.graph.ir import Graph
    from mge.ops.conv import ConvBiasForward
    from mge.ops.reduce import Reduce

    rng = np.random.default_rng(0)
    g = Graph()
    x = g.add_input("x", (2, 8, 5, 5), "float32")
    (h,) = g.add_op(Reduce(mode="MEAN", axis=2), [x])
    (hw,) = g.add_op(Reduce(mode=second, axis=3), [h])
    w = g.add_const(rng.normal(size=(6, 8, 1, 1)).astype("float32"))
    b = g.add_const(rng.normal(size=(1, 6, 1, 1)).astype("float32"))
    (y,) = g.add_op(ConvBiasForward(nonlineMode="RELU"), [hw, w, b])
    g.outputs = [y, h] if expose_first else [y]
    return g


def _lowered(g: Any, x: np.ndarray) -> tuple[collections.Counter, list[np.ndarray]]:
    import onnxruntime

    from mge.runtime.int8_onnx import lower_to_onnx

    model = lower_to_onnx(g)
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return collections.Counter(n.op_type for n in model.graph.node), session.run(None, {"in0": x})


def _reference(x: np.ndarray, second: str) -> np.ndarray:
    h = x.mean(axis=2, keepdims=True)
    hw = h.mean(axis=3, keepdims=True) if second == "MEAN" else h.sum(axis=3, keepdims=True)
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(6, 8)).astype("float32"), rng.normal(size=(1, 6, 1, 1))
    return np.maximum(np.einsum("nc...,oc->no...", hw, w) + b, 0)


def test_spatial_mean_pair_and_classifier_conv() -> None:
    x = np.random.default_rng(1).normal(size=(2, 8, 5, 5)).astype("float32")
    ops, (y,) = _lowered(_tail(), x)
    # one ReduceMean over the NHWC transpose (cancelled by onnxruntime's own layout one)
    assert ops["ReduceMean"] == ops["Transpose"] == ops["Gemm"] == 1
    assert ops["GlobalAveragePool"] == ops["Conv"] == 0
    np.testing.assert_allclose(y, _reference(x, "MEAN"), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("second", "expose"), [("SUM", False), ("MEAN", True)])
def test_other_reductions_stay(second: str, expose: bool) -> None:
    """A mean then a sum, or a mean pair whose first half is read elsewhere too, keep
    their own reductions."""
    x = np.random.default_rng(2).normal(size=(2, 8, 5, 5)).astype("float32")
    ops, outs = _lowered(_tail(second, expose), x)
    assert ops["Transpose"] == 0 and ops["ReduceMean"] >= 1
    np.testing.assert_allclose(outs[0], _reference(x, second), rtol=1e-5, atol=1e-5)
    if expose:
        np.testing.assert_allclose(outs[1], x.mean(axis=2, keepdims=True), rtol=1e-6)
