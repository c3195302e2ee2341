"""The int8 lowering's requantizing ``QRELU`` forms and ``Pad`` folding
(``mge/runtime/int8_requant.py``, ``mge/runtime/int8_fuse.py``): faster ONNX forms that give
the same codes as MegEngine (the numpy int8 kernels) and as the plainer lowering."""

from __future__ import annotations

import collections
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mge.lite as L
from mge.dtype import dtype_spec, qint8

pytest.importorskip("onnxruntime")

S0 = 0.05  # the input's scale; the first conv keeps it (weight 1 at scale 1: exact)


def _graph(ratio: float, conv_relu: bool = False) -> Any:
    """input -> int8 -> 1x1 identity ConvBias (``conv_relu``: with a RELU epilogue) ->
    QRELU into scale ``S0 / ratio`` -> QMIN at 127 (a relu6) -> zero Padding -> 3x3
    ConvBias -> float; outputs: the relu6 and the last conv, as float."""
    from mge.graph.ir import Graph
    from mge.ops.conv import ConvBiasForward
    from mge.ops.elemwise import TypeCvt
    from mge.ops.quantized import ElemwiseMultiType
    from mge.ops.shape import Padding

    g = Graph()
    x = g.add_input("x", (1, 4, 8, 8), "float32")
    s0, s2, s3 = qint8(S0), qint8(S0 / ratio), qint8(0.09)
    (q,) = g.add_op(TypeCvt(dtype=dtype_spec(s0)), [x])
    eye = g.add_const(np.eye(4).reshape(4, 4, 1, 1).astype(qint8(1.0)))
    nonline = "RELU" if conv_relu else "IDENTITY"
    (c1,) = g.add_op(ConvBiasForward(dtype=dtype_spec(s0), nonlineMode=nonline), [q, eye])
    (r,) = g.add_op(ElemwiseMultiType(mode="QRELU", dtype=dtype_spec(s2)), [c1])
    six = g.add_const(np.array([127], s2))
    (r6,) = g.add_op(ElemwiseMultiType(mode="QMIN", dtype=dtype_spec(s2)), [r, six])
    (p,) = g.add_op(Padding(front_offset_dim2=1, back_offset_dim2=0, front_offset_dim3=0,
                            back_offset_dim3=1, padding_mode="CONSTANT", padding_val=0), [r6])
    w = np.random.default_rng(1).integers(-127, 128, (4, 4, 3, 3)).astype(qint8(0.01))
    (c2,) = g.add_op(ConvBiasForward(dtype=dtype_spec(s3), pad_h=1, pad_w=1),
                     [p, g.add_const(w)])
    g.outputs = [g.add_op(TypeCvt(dtype="float32"), [v])[0] for v in (r6, c2)]
    return g


def _run(graph: Any, tmp_path: Path, backend: str, x: np.ndarray) -> list[np.ndarray]:
    from mge.serialization.mge_graph import dump_graph

    path = tmp_path / "g.mge"
    path.write_bytes(dump_graph(graph)[0])
    config = L.LiteConfig()
    config.plan_backend = backend
    net = L.LiteNetwork(config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to the numpy kernels fails
        net.load(str(path))
        net.get_io_tensor(net.get_all_input_name()[0]).set_data_by_copy(x)
        net.forward()
    net.wait()
    return [net.get_io_tensor(n).to_numpy() for n in net.get_all_output_name()]


def _all_codes() -> np.ndarray:
    codes = np.random.default_rng(0).permutation(np.arange(-128, 128))
    return (codes * np.float32(S0)).astype(np.float32).reshape(1, 4, 8, 8)


def _ort(model: Any, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, {"in0": x})


RATIOS = [6.0, 5.8812, 1 / 6, 1.5, 0.999, *np.random.default_rng(2).uniform(0.125, 8, 5)]
CASES = [(r, False) for r in RATIOS] + [(5.8812, True), (0.7, True)]  # 0.7: ties (x.5)


@pytest.mark.parametrize(("ratio", "conv_relu"), CASES,
                         ids=[f"{r:.4f}{'-convrelu' if c else ''}" for r, c in CASES])
def test_requantizing_relu6_bit_exact_on_every_code(ratio: float, conv_relu: bool,
                                                     tmp_path: Path) -> None:
    """The relu6's codes from onnxruntime equal the numpy int8 kernels' on every int8
    input code (the first conv is exact on both); the padded conv after it gives the same
    codes as the plain lowering (Pad, table) and stays within one step of numpy."""
    from mge.runtime.int8_onnx import lower_to_onnx

    g, x = _graph(ratio, conv_relu), _all_codes()
    numpy = _run(g, tmp_path, "numpy", x)
    ort = _run(g, tmp_path, "onnxruntime-int8", x)
    np.testing.assert_array_equal(ort[0], numpy[0])
    assert len(np.unique(numpy[0])) > 10
    plain = _ort(lower_to_onnx(g, relu_add=False, fold_pads=False), x)
    np.testing.assert_array_equal(ort[1], plain[1])
    assert np.abs(ort[1] - numpy[1]).max() <= 0.09 * 1.0001
    ops = collections.Counter(n.op_type for n in lower_to_onnx(g).graph.node)
    assert ops["Pad"] == 0 and ops["QLinearConv"] == 2
    if ops["QLinearAdd"]:  # the conv's relu is its saturation at zero point 0
        assert ops["Clip"] == 0
    assert ops["QLinearAdd"] + ops["QLinearLeakyRelu"] + ops["Gather"] == 1


def test_relu_add_form_used_at_mobilenet_like_scales() -> None:
    """At the relu6 scales of mge's MobileNetV2 PTQ (the conv's scale about 6x the
    relu6's) the requantizing relu is one ``QLinearAdd``: no table, no Clip."""
    from mge.runtime.int8_onnx import lower_to_onnx

    ops = collections.Counter(n.op_type for n in lower_to_onnx(_graph(5.8812)).graph.node)
    assert ops["QLinearAdd"] == 1 and ops["QLinearLeakyRelu"] == ops["Clip"] == 0


def test_gather_form_when_no_onnxruntime_form_is_exact(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    """Where neither onnxruntime form rounds as MegEngine does, the relu is MegEngine's own
    table through ``Gather``: still bit-exact."""
    from mge.runtime import int8_requant
    from mge.runtime.int8_onnx import lower_to_onnx

    monkeypatch.setattr(int8_requant, "exact", lambda form, *a: form == "gather")
    g, x = _graph(3.3), _all_codes()
    ops = collections.Counter(n.op_type for n in lower_to_onnx(g).graph.node)
    assert ops["Gather"] == 1 and ops["QLinearAdd"] == ops["QLinearLeakyRelu"] == 0
    np.testing.assert_array_equal(_run(g, tmp_path, "onnxruntime-int8", x)[0],
                                  _run(g, tmp_path, "numpy", x)[0])


def test_expected_codes_of_add_form_saturate_above_127() -> None:
    """The ``"add"`` form reads relu'd uint8 codes at zero point 0: codes above 127 (where
    MegEngine's conv saturated) give what 127 gives; negative codes never occur."""
    from mge.runtime.int8_requant import expected_codes

    table = np.clip(np.arange(-128, 128) * 2, 0, 127).astype(np.int16)  # a relu, ratio 2
    got = expected_codes("add", table).astype(int) - 128
    assert got[0] == 0 and got[10] == 20 and (got[64:] == 127).all()
    np.testing.assert_array_equal(expected_codes("table", table).astype(int) - 128, table)


@pytest.mark.slow
def test_mobilenet_v2_ptq_same_codes_as_plain_lowering(tmp_path: Path) -> None:
    """mge's PTQ of the real MobileNetV2 (35 requantizing relu6, 5 TFLite pads): the
    faster lowering gives the plain lowering's logits bit for bit on photo crops and
    random input (both differ from the numpy kernels only through QLinearConv's rounding)."""
    pytest.importorskip("PIL")
    from tests.quantization.mobilenet_ptq import MODEL, photos, ptq, random_crops

    if not MODEL.exists():
        pytest.skip(f"{MODEL} not found")
    from bench.int8_ptq import dump
    from mge.runtime.int8_onnx import lower_to_onnx
    from mge.serialization.mge_graph import load_graph
    from tests.quantization.convnet_from_onnx import OnnxConvNet

    net = OnnxConvNet(str(MODEL))
    net.eval()
    calib = np.concatenate(list(random_crops(photos(), 8, seed=1)))
    q = ptq(net, [calib[i:i + 4] for i in range(0, len(calib), 4)])
    dump(q, calib[:1], str(tmp_path / "q.mge"))
    graph = load_graph(tmp_path / "q.mge").graph
    fast, plain = lower_to_onnx(graph), lower_to_onnx(graph, relu_add=False, fold_pads=False)
    ops = collections.Counter(n.op_type for n in fast.graph.node)
    assert ops["QLinearLeakyRelu"] == ops["Gather"] == 0
    # the one Pad left is the image's, before its float Conv of the codes (int8_codeconv)
    assert ops["Pad"] == ops["Conv"] == 1
    crops = [c[None] for c in np.concatenate(list(random_crops(photos(), 4, seed=7)))]
    for x in [*crops, np.random.default_rng(0).normal(size=(1, 3, 224, 224))]:
        x = np.ascontiguousarray(x, np.float32)
        np.testing.assert_array_equal(_ort(fast, x)[0], _ort(plain, x)[0])
