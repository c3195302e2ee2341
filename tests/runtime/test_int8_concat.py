"""Quantized ``Concat``, requantizing ``TypeCvt`` and ShuffleNetV1's channel shuffle in the
int8 lowerings: the ``onnxruntime-int8`` and ``openvino-int8`` plans and the QDQ export.

MegEngine dumps ``M.quantized.Concat`` as a ``TypeCvt`` from each input's scale to the
output's (rounding half away from zero) and a ``Concat`` of one dtype. A hand-made graph
of those ops (exact ties at every odd code) gives the exact kernels' codes bit for bit
everywhere; MegEngine's own dump of a narrow ShuffleNetV1 (``tools/oracle/make_int8.py
--model shufflenet``: the zoo's quantized units, and ShuffleNetV1's concatenating
stride-2 unit) runs whole on both plans and exports."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from mge.convert import OnnxExportError, to_onnx
from mge.convert.cli import main
from mge.dtype import dtype_spec, get_scale, qint8
from mge.graph.ir import Graph
from mge.graph.specialize import specialize
from mge.ops.elemwise import TypeCvt
from mge.ops.shape import Concat, Dimshuffle, Reshape
from mge.runtime.int8_onnx import Int8Unsupported, lower_to_onnx
from mge.serialization.mge_graph import load_graph
from tests.lite.runs import run_lite

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "int8"
SHUFFLENET = FIXTURES / "int8_shufflenet.mge"
QNET = FIXTURES.parent / "quantization" / "qnet_int8.mge"
PLANS = ("onnxruntime-int8", "openvino-int8")
#: (input scale, concat scale) pairs: exact halves at every odd code, and two of
#: MegEngine's own calibrated scales
SCALES = [(0.25, 0.5), (0.0283965, 0.0454932)]


def _concat_shuffle_graph(s_in: float, s_out: float, batch: int = 2) -> Graph:
    """float ``a`` (2, 3, 4, 4) quantized at ``s_in`` then requantized to ``s_out``, float
    ``b`` (2, 3, 4, 4) quantized at ``s_out``; their ``Concat`` on channels, the channel
    shuffle of 3 groups (reshape, transpose, reshape of the codes), dequantized."""
    g = Graph()
    a = g.add_input("a", (batch, 3, 4, 4), "float32")
    b = g.add_input("b", (batch, 3, 4, 4), "float32")
    (qa,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(s_in))), [a])
    (ra,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(s_out))), [qa])
    (qb,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(s_out))), [b])
    (cat,) = g.add_op(Concat(axis=1), [ra, qb])
    (grouped,) = g.add_op(Reshape(shape=(batch, 2, 3, 4, 4)), [cat])
    (moved,) = g.add_op(Dimshuffle(pattern=(0, 2, 1, 3, 4)), [grouped])
    (shuffled,) = g.add_op(Reshape(shape=(batch, 6, 4, 4)), [moved])
    (y,) = g.add_op(TypeCvt(dtype="float32"), [shuffled])
    g.outputs = [y, g.add_op(TypeCvt(dtype="float32"), [ra])[0]]
    return g


def _codes_inputs(s_in: float, s_out: float, batch: int = 2) -> list[np.ndarray]:
    """Every int8 code of ``s_in`` (as its reals: quantized back exactly), and reals of
    ``s_out``'s grid."""
    codes = np.resize(np.arange(-128, 128, dtype=np.float32), (batch, 3, 4, 4))
    b = np.random.default_rng(0).integers(-128, 128, (batch, 3, 4, 4)).astype(np.float32)
    return [codes * np.float32(s_in), b * np.float32(s_out)]


def _plan_outputs(graph: Graph, feeds: list[np.ndarray], backend: str,
                  tmp_path: Path) -> list[np.ndarray]:
    from mge.serialization.mge_graph import dump_graph

    path = tmp_path / f"{backend}.mge"
    path.write_bytes(dump_graph(graph)[0])
    return run_lite(path, dict(zip(("a", "b"), feeds, strict=True)), backend)


@pytest.mark.parametrize("backend", PLANS)
@pytest.mark.parametrize(("s_in", "s_out"), SCALES)
def test_requantized_concat_and_shuffle_give_megengines_codes_on_the_plans(
        backend: str, s_in: float, s_out: float, tmp_path: Path) -> None:
    """Every code of one scale requantized to another (half of them exact ties at
    ``0.25 -> 0.5``), concatenated with codes of that scale and channel-shuffled: the
    plan's codes are the exact kernels' (MegEngine's), bit for bit, at batch 2 and 5."""
    pytest.importorskip("openvino" if backend == "openvino-int8" else "onnxruntime")
    for batch in (2, 5):
        graph = _concat_shuffle_graph(s_in, s_out, batch)
        feeds = _codes_inputs(s_in, s_out, batch)
        want = _plan_outputs(graph, feeds, "numpy", tmp_path)
        got = _plan_outputs(graph, feeds, backend, tmp_path)
        if s_in == 0.25:  # the ties that QuantizeLinear would round to even
            assert np.unique(np.abs(want[1] / s_out) % 1).tolist() == [0.0]
            assert (want[1] != np.round(feeds[0] / s_out) * np.float32(s_out)).any()
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def _ort(model: onnx.ModelProto, feeds: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(model.graph.input, feeds, strict=True)})


def _openvino(model: onnx.ModelProto, feeds: list[np.ndarray]) -> list[np.ndarray]:
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    compiled = core.compile_model(core.read_model(model.SerializeToString(), b""), "CPU",
                                  {"INFERENCE_PRECISION_HINT": "f32"})
    results = compiled.create_infer_request().infer(dict(enumerate(feeds)))
    return [results[out] for out in compiled.outputs]


@pytest.mark.parametrize("engine", [_ort, _openvino], ids=["onnxruntime", "openvino"])
@pytest.mark.parametrize(("s_in", "s_out"), SCALES)
def test_requantized_concat_exports_exactly_static_and_dynamic(
        engine: Callable, s_in: float, s_out: float, tmp_path: Path) -> None:
    """The QDQ export (static at batch 2, dynamic at 1, 2 and 7): the exact kernels'
    values, bit for bit, in onnxruntime and OpenVINO."""
    graph = _concat_shuffle_graph(s_in, s_out)
    dynamic = to_onnx(graph, dynamic_batch=True)
    onnx.checker.check_model(dynamic, full_check=True)
    for batch in (1, 2, 7):
        feeds = _codes_inputs(s_in, s_out, batch)
        sized = specialize(graph, {"a": feeds[0].shape, "b": feeds[1].shape})
        want = _plan_outputs(sized, feeds, "numpy", tmp_path)
        models = [dynamic] + ([to_onnx(graph)] if batch == 2 else [])
        for model in models:
            for g, w in zip(engine(model, feeds), want, strict=True):
                np.testing.assert_array_equal(g, w)


def test_concat_of_two_dtypes_is_refused_naming_them() -> None:
    """A ``Concat`` of codes of two scales (MegEngine refuses the graph; its quantized
    Concat converts first) is refused by both lowerings and the export."""
    g = Graph()
    a = g.add_input("a", (1, 2), "float32")
    (qa,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(0.1))), [a])
    (qb,) = g.add_op(TypeCvt(dtype=dtype_spec(qint8(0.2))), [a])
    (cat,) = g.add_op(Concat(axis=1), [qa, qb])
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [cat])[0]]
    match = r"Concat of several dtypes \(QuantizedS8\(scale=0\.1\), QuantizedS8\(scale=0\.2"
    with pytest.raises(Int8Unsupported, match=match):
        lower_to_onnx(g)
    with pytest.raises(OnnxExportError, match=match):
        to_onnx(g)


def _shufflenet() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    data = np.load(SHUFFLENET.with_suffix(".npz"))
    return data["input"], data


def test_shufflenet_fixture_is_megengines_and_exact_kernels_match_it() -> None:
    """The exact numpy kernels give MegEngine Lite's outputs of its own ShuffleNetV1
    dump bit for bit (every unit's codes, dequantized; the float classifier within
    float32 rounding)."""
    x, data = _shufflenet()
    got = run_lite(SHUFFLENET, x, "numpy")
    for k, value in enumerate(got[:-1]):
        np.testing.assert_array_equal(value, data[f"lite/{k}"])
    np.testing.assert_allclose(got[-1], data[f"lite/{len(got) - 1}"], atol=1e-6)
    ops = {n.op.type_name for n in load_graph(SHUFFLENET).graph.ops()
           if any("Quantized" in str(v.dtype.metadata) for v in n.inputs)}
    assert {"Concat", "Dimshuffle", "Reshape", "TypeCvt"} <= ops


@pytest.mark.parametrize("backend", PLANS)
def test_shufflenet_runs_whole_on_the_int8_plans(backend: str) -> None:
    """No fallback (a warning or refusal fails the test) at batch 1 and 3. onnxruntime:
    every code MegEngine's. OpenVINO: the stem and the first two units (the concatenating
    one, channel shuffles) exact; from the projecting unit on, its fused convolution and
    add round a few codes near a half the other way (7 of 384 at batch 1)."""
    pytest.importorskip("openvino" if backend == "openvino-int8" else "onnxruntime")
    x, _ = _shufflenet()
    graph = load_graph(SHUFFLENET).graph
    scales = [get_scale(n.inputs[0].dtype) for n in graph.ops()
              if n.outputs[0] in graph.outputs[:-1]]
    for batch in (1, 3):
        feed = np.concatenate([x] * batch) + np.float32(0.01) * batch
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = run_lite(SHUFFLENET, feed, backend)
        want = run_lite(SHUFFLENET, feed, "numpy")
        exact = len(want) if backend == "onnxruntime-int8" else 3
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            if k < exact:
                np.testing.assert_allclose(g, w, rtol=0, atol=1e-6 if k == 5 else 0)
            elif k < 5:
                steps = np.abs(g - w) / np.float32(scales[k])
                assert steps.max() < 2.5 and (steps > 0.5).mean() < 0.05
            else:
                np.testing.assert_allclose(g, w, atol=0.1)


def test_shufflenet_command_line_export_with_check(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    """``mge_to_onnx --check`` (static and ``--dynamic-batch``): onnxruntime's outputs of
    the QDQ file are mge's exact ones (the float classifier within float32 rounding)."""
    for options in ([], ["--dynamic-batch"]):
        out = tmp_path / f"s{len(options)}.onnx"
        assert main(["mge_to_onnx", "-i", str(SHUFFLENET), "-o", str(out), *options,
                     "--check"]) == 0
        report = capsys.readouterr().out
        assert float(report.split("max abs difference vs mge:")[1].split()[0]) < 1e-5


@pytest.mark.parametrize("backend", PLANS)
def test_megengine_quantized_concat_dump_runs_exactly_on_the_plans(backend: str) -> None:
    """MegEngine's dump of the quantization fixtures' net (``M.Concat`` of a requantized
    conv output and an add; ``tests/fixtures/quantization/qnet_int8.mge``): every output
    value the exact kernels', at its batch (2) and at 5."""
    pytest.importorskip("openvino" if backend == "openvino-int8" else "onnxruntime")
    graph = load_graph(QNET).graph
    assert any(isinstance(n.op, Concat) and "Quantized" in str(n.outputs[0].dtype.metadata)
               for n in graph.ops())
    rng = np.random.default_rng(4)
    for batch in (2, 5):
        x = rng.normal(size=(batch, *graph.inputs[0].shape[1:])).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = run_lite(QNET, x, backend)
        np.testing.assert_array_equal(got[0], run_lite(QNET, x, "numpy")[0])
