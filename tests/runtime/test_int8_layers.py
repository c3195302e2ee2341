"""Per-layer fidelity of the int8 lowerings (:mod:`mge.runtime.int8_layers`): each layer's
codes against MegEngine's exact int8 kernels, every layer fed the exact inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mge.lite as L
from mge.dtype import dtype_spec, qint8
from mge.graph.ir import Graph
from mge.ops.elemwise import TypeCvt
from mge.runtime.int8_layers import exact_values, layer_report
from mge.runtime.specialize import specialize
from mge.serialization.mge_graph import load_graph

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "int8"
#: MegEngine's scale of a [-1, 1] input (a symmetric min-max observer's 1 / 127.5)
SCALE = 1 / 127.5


def run_onnxruntime(model: Any, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    onnxruntime = pytest.importorskip("onnxruntime")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed), strict=True))


def run_openvino(model: Any, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    pytest.importorskip("openvino")
    from mge.runtime.plan_openvino import core

    compiled = core().compile_model(core().read_model(model.SerializeToString(), b""), "CPU",
                                    {"INFERENCE_PRECISION_HINT": "f32"})
    results = compiled.create_infer_request().infer(feed)
    return {name: value for port, value in results.items() for name in port.get_names()}


RUNNERS = {"onnx": run_onnxruntime, "qdq": run_openvino}


def _fixture() -> tuple[Graph, np.ndarray]:
    x = np.load(FIXTURES / "int8_cnn.npz")["input"]
    return load_graph(FIXTURES / "int8_cnn.mge").graph, x


def test_exact_values_are_megengine_lites_outputs() -> None:
    """The op-by-op exact kernels give the numpy plan's outputs (bit for bit MegEngine
    Lite's, stored in the fixture)."""
    graph, x = _fixture()
    graph = specialize(graph, {})
    values = exact_values(graph, [x])
    ref = dict(np.load(FIXTURES / "int8_cnn.npz"))
    config = L.LiteConfig()
    config.plan_backend = "numpy"
    net = L.LiteNetwork(config)
    net.load(str(FIXTURES / "int8_cnn.mge"))
    net.get_io_tensor(net.get_all_input_name()[0]).set_data_by_copy(x)
    net.forward()
    net.wait()
    for k, (var, name) in enumerate(zip(graph.outputs, net.get_all_output_name(),
                                        strict=True)):
        np.testing.assert_array_equal(values[var.id], ref[f"lite/{k}"])
        np.testing.assert_array_equal(values[var.id], net.get_io_tensor(name).to_numpy())


@pytest.mark.parametrize("kind", ["onnx", "qdq"])
def test_each_layer_within_one_code(kind: str) -> None:
    """Fed the exact inputs, every 8-bit var of the fixture CNN (convs, relu, pooling,
    dequantize) is within one code of MegEngine's on both lowerings; the float outputs
    within float rounding."""
    graph, x = _fixture()
    rows = layer_report(graph, [x], RUNNERS[kind], kind, "isolated")
    assert sum(r.codes for r in rows) >= 5
    for row in rows:
        if row.codes:
            assert row.max_diff <= 1, row
        else:
            assert row.max_diff <= 1e-5, row


def _input_quantize(x: np.ndarray) -> Graph:
    g = Graph()
    data = g.add_input("x", x.shape, "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(SCALE))), [data])
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [q])[0]]
    return g


def _pixels() -> np.ndarray:
    """The reals of every 8-bit pixel ``p`` as nets read them, ``2 * p / 255 - 1`` and
    ``p / 255``: at this scale each a half, within a float32 step of one, or a code."""
    p = np.arange(256)
    return np.concatenate([2 * p / 255 - 1, p / 255]).astype(np.float32).reshape(1, -1)


def _halves() -> np.ndarray:
    """Every code's exact halves (``(n + 0.5) * scale`` where MegEngine's float32
    ``x / scale`` is an exact half) and their float32 neighbours."""
    s = np.float32(SCALE)
    halves = ((np.arange(-130, 130) + 0.5) * np.float64(s)).astype(np.float32)
    halves = halves[(halves / s) % 1 == 0.5]
    return np.concatenate([halves, np.nextafter(halves, np.float32(np.inf)),
                           np.nextafter(halves, np.float32(-np.inf))]).reshape(1, -1)


def _exact_halves(x: np.ndarray) -> int:
    return int(((np.abs(x / np.float32(SCALE)) % 1) == 0.5).sum())


@pytest.mark.parametrize("inputs", [_pixels, _halves])
def test_input_quantization_on_halves(inputs: Any) -> None:
    """Float inputs quantized at MegEngine's scale, on pixels (at this scale each a half,
    within a float32 step of one, or a code) and on every exact half and its float32
    neighbours: onnxruntime's QuantizeLinear rounds the exact halves to even, one code off
    on up to all of them; the QDQ lowering rounds before OpenVINO's FakeQuantize as
    MegEngine does, off on a few only (OpenVINO's CPU division is not float32's correctly
    rounded one: ``1.5 * scale / scale`` came out a step below 1.5)."""
    x = inputs()
    graph = _input_quantize(x)
    qdq, _ = layer_report(graph, [x], run_openvino, "qdq", "isolated")
    onnx, _ = layer_report(graph, [x], run_onnxruntime, "onnx", "isolated")
    assert qdq.max_diff <= 1 and onnx.max_diff == 1
    assert qdq.differ * 10 < onnx.differ <= _exact_halves(x), (qdq, onnx)


@pytest.mark.parametrize("kind", ["onnx", "qdq"])
@pytest.mark.parametrize("nonline", ["IDENTITY", "RELU"])
def test_conv_requantization_on_every_code_and_tie(kind: str, nonline: str) -> None:
    """A 1x1 conv (weight 1) of every input code into half its scale (powers of two:
    MegEngine's float32 requantization is exact, every odd code an exact half): each
    engine within one code of MegEngine's, and off only on those exact halves (ties to
    even against MegEngine's away from zero)."""
    from mge.ops.conv import ConvBiasForward

    scale = 2.0 ** -4
    codes = np.arange(-128, 128).reshape(1, 1, 16, 16)
    g = Graph()
    x = g.add_input("x", codes.shape, "float32")
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(scale))), [x])
    one = g.add_const(np.ones((1, 1, 1, 1)).astype(qint8(1.0)))
    (c,) = g.add_op(ConvBiasForward(dtype=dtype_spec(qint8(2 * scale)), nonlineMode=nonline),
                    [q, one])
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [c])[0]]
    feed = (codes * scale).astype(np.float32)
    quantized, conv, out = layer_report(g, [feed], RUNNERS[kind], kind, "isolated")
    assert quantized.differ == 0 and out.differ == 0  # the codes in, and back to float
    assert conv.op == "ConvBiasForward" and conv.size == codes.size
    assert conv.max_diff <= 1 and conv.differ == conv.near_tie, conv


def test_input_quantization_is_one_fused_openvino_layer() -> None:
    """OpenVINO compiles the QDQ lowering's input quantization (MegEngine's rounding of
    ``x / scale``, then the pair) into fused elementwise layers, none on a reference
    kernel (a ``Sign`` in the rounding ran as ``ref_any_f32``: more than half the time
    the real MobileNetV2's input quantization took at batch 1)."""
    pytest.importorskip("openvino")
    from mge.runtime.int8_qdq import lower_to_qdq
    from mge.runtime.plan_openvino import core, read_with_weights

    graph = _input_quantize(_pixels())
    compiled = core().compile_model(read_with_weights(lower_to_qdq(graph), {}), "CPU")
    layers = [(info["layerType"].astype(str), info["primitiveType"].astype(str))
              for info in (op.get_rt_info() for op in
                           compiled.get_runtime_model().get_ordered_ops())]
    assert any(kind == "Subgraph" for kind, _ in layers), layers
    assert not [layer for layer in layers if layer[1].startswith("ref")], layers
