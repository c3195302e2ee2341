"""3-d Conv, ConvTranspose and pooling import (MegEngine's Convolution3D ops; pools as window
taps) against onnxruntime, eager and as ``.mge`` + mge.lite, with the attribute mixes ONNX's
backend cases leave out: groups, asymmetric pads, bias, output_padding, SAME_UPPER; and
DeformConv (MegEngine's DeformableConvForward) against ONNX's reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .test_semantics import BACKENDS, _model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

FLOAT = TensorProto.FLOAT


def _run_both(backend: Any, node: Any, x: np.ndarray, weights: dict[str, np.ndarray],
              opset: int = 13) -> None:
    probe = _model([node], {"x": (FLOAT, list(x.shape))}, {"y": (FLOAT, None)}, opset,
                   initializers=weights)
    session = ort.InferenceSession(probe.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    (want,) = session.run(None, {"x": x})
    model = _model([node], {"x": (FLOAT, list(x.shape))}, {"y": (FLOAT, list(want.shape))},
                   opset, initializers=weights)
    (got,) = backend.prepare(model).run([x])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("attrs", [
    dict(group=2, pads=[1, 0, 2, 0, 1, 1], strides=[1, 2, 1]),
    dict(dilations=[2, 1, 1], pads=[2, 1, 0, 2, 0, 1]),
    dict(strides=[2, 2, 1], auto_pad="SAME_UPPER"),
])
def test_conv3d_matches_onnxruntime(backend: Any, attrs: dict[str, Any]) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 6, 7)).astype(np.float32)
    groups = attrs.get("group", 1)
    weights = {"w": rng.standard_normal((6, 4 // groups, 3, 2, 3)).astype(np.float32),
               "b": rng.standard_normal(6).astype(np.float32)}
    _run_both(backend, helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs), x, weights)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_transpose3d_matches_onnxruntime(backend: Any) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 3, 4, 3)).astype(np.float32)
    weights = {"w": rng.standard_normal((4, 3, 2, 3, 3)).astype(np.float32),
               "b": rng.standard_normal(6).astype(np.float32)}
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], group=2,
                            strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1],
                            output_padding=[1, 0, 1])
    _run_both(backend, node, x, weights)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("op", "attrs"), [
    ("MaxPool", dict(kernel_shape=[2, 3, 2], strides=[2, 1, 2], pads=[0, 1, 1, 1, 0, 0],
                     ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[3, 2, 2], pads=[1, 0, 1, 1, 1, 0],
                         count_include_pad=0)),
    ("AveragePool", dict(kernel_shape=[2, 2, 3], strides=[2, 2, 2], count_include_pad=1,
                         pads=[1, 1, 1, 0, 0, 1], ceil_mode=1)),
])
def test_pool3d_matches_onnxruntime(backend: Any, op: str, attrs: dict[str, Any]) -> None:
    x = np.random.default_rng(2).standard_normal((1, 3, 5, 6, 5)).astype(np.float32)
    _run_both(backend, helper.make_node(op, ["x"], ["y"], **attrs), x, {}, opset=19)


@pytest.mark.parametrize("backend", BACKENDS)
def test_deform_conv_matches_onnx_reference(backend: Any) -> None:
    """Groups, offset groups, asymmetric pads, stride, dilation, bias and mask together;
    offsets reach past the image border (zeros there)."""
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    w = rng.standard_normal((6, 2, 2, 3)).astype(np.float32)
    offset = rng.uniform(-2.5, 2.5, (2, 2 * 2 * 6, 3, 2)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    mask = rng.uniform(0, 1, (2, 2 * 6, 3, 2)).astype(np.float32)
    feeds = {"x": x, "w": w, "offset": offset, "b": bias, "mask": mask}
    node = helper.make_node("DeformConv", list(feeds), ["y"], group=2, offset_group=2,
                            pads=[1, 0, 0, 2], strides=[2, 2], dilations=[1, 2])
    model = _model([node], {n: (FLOAT, list(v.shape)) for n, v in feeds.items()},
                   {"y": (FLOAT, [2, 6, 3, 2])}, opset=19)
    (want,) = ReferenceEvaluator(model).run(None, feeds)
    (got,) = backend.prepare(model).run(list(feeds.values()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
