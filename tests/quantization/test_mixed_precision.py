"""``mge.quantization.mixed_precision``: layers left float inside a quantized network
(``keep_float``) and the per-layer weight sensitivity that picks them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.module as M
from mge.dtype import get_scale
from mge.module import quantized as Q
from mge.quantization import (
    calibration_qconfig,
    disable_observer,
    quantize,
    quantize_qat,
    share_activation_scales,
)
from mge.quantization.mixed_precision import FloatIsland, keep_float, weight_sensitivity
from tests.oracle import requires_oracle


class TwoConvs(M.Module):
    """A depthwise and a dense 3x3 conv, each before a ReLU6, between quantization stubs;
    the depthwise filters span ranges 250x apart (the ReLU6 clips the wide channel's
    output, while one per-tensor weight scale rounds the narrow channels' filters
    away), the dense conv's are alike."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(1)
        self.quant = M.QuantStub()
        self.layers = [M.Conv2d(4, 4, 3, padding=1, groups=4), M.Elemwise("relu6"),
                       M.Conv2d(4, 8, 3, padding=1), M.Elemwise("relu6")]
        self.dequant = M.DequantStub()
        w = rng.normal(size=(4, 1, 1, 3, 3)) * np.array([50, 0.2, 0.2, 0.2])[:, None, None,
                                                                          None, None]
        self.layers[0].weight[...] = mge.tensor(w.astype("float32"))
        self.layers[2].weight[...] = mge.tensor(
            (rng.normal(size=(8, 4, 3, 3)) * 0.3).astype("float32"))

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = self.quant(x)
        for layer in self.layers:
            x = layer(x)
        return self.dequant(x)


DATA = np.random.default_rng(0).normal(size=(4, 4, 8, 8)).astype("float32")


def _calibrated(net: M.Module) -> M.Module:
    qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    qat(mge.tensor(DATA))
    disable_observer(qat)
    qat.eval()
    share_activation_scales(qat, mge.tensor(DATA[:1]))
    return qat


def _sqnr(ref: np.ndarray, out: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref ** 2) / np.sum((ref - out) ** 2)))


def test_keep_float_leaves_the_layer_float_between_stubs() -> None:
    net = TwoConvs()
    net.eval()
    ref = net(mge.tensor(DATA)).numpy()
    conv = net.layers[0]
    assert keep_float(net, ["layers.0"]) is net
    assert isinstance(net.layers[0], FloatIsland) and net.layers[0].module is conv
    np.testing.assert_array_equal(net(mge.tensor(DATA)).numpy(), ref)  # float: unchanged
    q = quantize(_calibrated(net), inplace=False)
    q.eval()
    island = q.layers[0]
    assert type(island.module) is M.Conv2d  # float, not Q.Conv2d
    assert isinstance(island.dequant, Q.DequantStub) and isinstance(island.quant, Q.QuantStub)
    assert isinstance(q.layers[2], Q.Conv2d)
    # share_activation_scales gave the island's stub the ReLU6's scale (the stub passes
    # the conv's output through while calibrating: it is no second user of it)
    assert get_scale(island.quant.output_dtype) == get_scale(q.layers[1].output_dtype)
    # the float conv keeps its wide-ranged weights: far closer to float than all int8
    all_int8 = quantize(_calibrated(TwoConvs()), inplace=False)
    all_int8.eval()
    out = q(mge.tensor(DATA)).numpy()
    assert _sqnr(ref, out) > _sqnr(ref, all_int8(mge.tensor(DATA)).numpy()) + 10


def test_keep_float_rejects_unknown_names() -> None:
    with pytest.raises(KeyError, match="layers.9"):
        keep_float(TwoConvs(), ["layers.9"])
    with pytest.raises(KeyError, match="keep_float"):
        keep_float(TwoConvs(), [""])


def test_weight_sensitivity_ranks_the_wide_ranged_layer_first() -> None:
    net = TwoConvs()
    net.eval()
    q = quantize(_calibrated(net), inplace=False)
    q.eval()
    layers = list(q.layers)
    scores = weight_sensitivity(q, net, [DATA[:2], DATA[2:]])
    assert list(scores)[0] == "layers.0"
    assert set(scores) == {"", "layers.0", "layers.2"}
    assert scores["layers.0"] > scores[""] + 10
    # the quantized layers are back: the same network, the same SQNR
    assert list(q.layers) == layers
    assert weight_sensitivity(q, net, [DATA])[""] == pytest.approx(scores[""], abs=1e-6)
    # what keep_float then gives, the stub at the same (shared) scale
    mixed = quantize(_calibrated(keep_float(net, ["layers.0"])), inplace=False)
    mixed.eval()
    out = mixed(mge.tensor(DATA)).numpy()
    assert _sqnr(net(mge.tensor(DATA)).numpy(), out) == pytest.approx(scores["layers.0"],
                                                                        abs=0.01)


def _dumped(tmp_path: Path) -> tuple[Path, np.ndarray]:
    from bench.int8_ptq import dump

    net = TwoConvs()
    net.eval()
    q = quantize(_calibrated(keep_float(net, ["layers.0"])), inplace=False)
    q.eval()
    path = tmp_path / "mixed.mge"
    dump(q, DATA[:1], str(path))
    return path, q(mge.tensor(DATA[:1])).numpy()


def test_mixed_dump_runs_in_lite_as_eagerly(tmp_path: Path) -> None:
    """The exact plan (numpy) runs the dump's float island as eagerly."""
    from tests.lite.runs import run_lite

    path, eager = _dumped(tmp_path)
    (out,) = run_lite(path, DATA[:1], "numpy")
    np.testing.assert_allclose(out, eager, rtol=0, atol=1e-5)


@pytest.mark.parametrize("backend", ["onnxruntime-int8", "openvino-int8"])
def test_mixed_dump_keeps_its_float_layer_on_the_int8_plans(tmp_path: Path,
                                                            backend: str) -> None:
    """The integer-kernel plans compute the float island in float: within one step of
    the output's int8 grid of the exact codes (onnxruntime 1.32's basic optimizations
    quantized the float ``Conv`` between ``DequantizeLinear`` and ``QuantizeLinear`` to
    per-tensor int8: 18 steps off, until the plan turned that optimization off)."""
    pytest.importorskip(backend.split("-")[0])
    from tests.lite.runs import run_lite

    path, eager = _dumped(tmp_path)
    step = float(np.min(np.diff(np.unique(eager))))  # the output's grid: ReLU6's scale
    (out,) = run_lite(path, DATA[:1], backend)
    assert np.abs(out - eager).max() <= step * 1.001


def test_mixed_dump_exported_as_qdq_keeps_its_float_layer_in_onnxruntime(
        tmp_path: Path) -> None:
    """``mge_to_onnx``'s QDQ file of a mixed dump, run by onnxruntime with its default
    options (as its users run it), keeps the float island float: the exact codes (its
    ``WeightBiasQuantization`` does not take the exported form, unlike the plan's)."""
    ort = pytest.importorskip("onnxruntime")
    from mge.convert import to_onnx

    path, eager = _dumped(tmp_path)
    to_onnx(str(path), str(tmp_path / "mixed.onnx"))
    session = ort.InferenceSession(str(tmp_path / "mixed.onnx"),
                                   providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: DATA[:1]})
    step = float(np.min(np.diff(np.unique(eager))))
    assert np.abs(out - eager).max() <= step * 1.001


@requires_oracle
def test_mixed_dump_runs_in_megengine_lite(tmp_path: Path) -> None:
    from tests.oracle import run_in_megengine

    path, eager = _dumped(tmp_path)
    (theirs,) = run_in_megengine(path, {"data": DATA[:1]}).values()
    np.testing.assert_allclose(theirs, eager, rtol=0, atol=1e-5)
