"""mge's own PTQ levers: ``MSEWeightObserver`` (clipped per-tensor weight scales) and
``share_activation_scales`` (a conv feeding only a ReLU/ReLU6 takes its scale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.module as M
from mge.dtype import get_scale
from mge.quantization import (
    MSEWeightObserver,
    calibration_qconfig,
    mse_calibration_qconfig,
    mse_clip_ratio,
    quantize,
    quantize_qat,
    share_activation_scales,
)
from mge.quantization.clipped_outputs import kept_output_ranges

RNG = np.random.default_rng(0)


def _quant_error(x: np.ndarray, scale: float, qmin: int = -127, qmax: int = 127) -> float:
    return float(np.sum((x - np.clip(np.round(x / scale), qmin, qmax) * scale) ** 2))


def test_mse_clip_ratio_clips_an_outlier_and_beats_min_max() -> None:
    w = RNG.standard_t(2, 10000)  # heavy tails: a few large values
    r = mse_clip_ratio(w, -127, 127)
    assert 0.3 <= r < 1.0
    top = np.abs(w).max()
    assert _quant_error(w, r * top / 127) < _quant_error(w, top / 127)


def test_mse_clip_ratio_keeps_a_uniform_range() -> None:
    assert mse_clip_ratio(np.linspace(-1, 1, 255), -127, 127) == 1.0
    assert mse_clip_ratio(np.zeros(4), -127, 127) == 1.0


def test_mse_weight_observer_scale_and_bad_arguments() -> None:
    w = RNG.standard_t(2, (64, 16, 3, 3)).astype("float32")
    obs = MSEWeightObserver()
    obs(mge.tensor(w))
    scale = float(obs.get_qparams().scale.numpy())
    assert scale == pytest.approx(obs.clip_ratio * np.abs(w).max() / 127, rel=1e-6)
    assert obs.clip_ratio < 1.0
    obs(mge.tensor(w))  # the same weight again: the same scale
    assert float(obs.get_qparams().scale.numpy()) == scale
    obs(mge.tensor(w / 2))
    assert float(obs.get_qparams().scale.numpy()) == pytest.approx(scale / 2, rel=1e-6)
    with pytest.raises(ValueError, match="MSEWeightObserver"):
        MSEWeightObserver(lowest=0.0)


def test_mse_calibration_qconfig_weight_dtype_reaches_quantize() -> None:
    net = M.Sequential(M.QuantStub(), M.Conv2d(64, 16, 3), M.DequantStub())
    w = RNG.standard_t(2, net[1].weight.shape).astype("float32")
    net[1].weight[...] = mge.tensor(w)
    net.eval()
    qat = quantize_qat(net, inplace=False, qconfig=mse_calibration_qconfig)
    qat(mge.tensor(RNG.normal(size=(1, 64, 6, 6)).astype("float32")))
    assert qat[1].weight_observer.clip_ratio < 1.0
    expected = qat[1].weight_observer.clip_ratio * np.abs(w).max() / 127
    q = quantize(qat, inplace=False)
    assert get_scale(q[1].weight.dtype) == pytest.approx(expected, rel=1e-6)


class _Net(M.Module):
    """conv1 -> relu6 (shared), conv2 -> relu (shared), conv3 used twice (not shared)."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = M.QuantStub()
        self.conv1 = M.Conv2d(3, 8, 3, padding=1)
        self.act1 = M.Elemwise("relu6")
        self.conv2 = M.Conv2d(8, 8, 1)
        self.act2 = M.Elemwise("relu")
        self.conv3 = M.Conv2d(8, 8, 1)
        self.act3 = M.Elemwise("relu6")
        self.add = M.Elemwise("add")
        self.dequant = M.DequantStub()
        for conv in (self.conv1, self.conv2, self.conv3):
            conv.weight[...] = mge.tensor(RNG.normal(0, 3, conv.weight.shape).astype("float32"))

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = self.act2(self.conv2(self.act1(self.conv1(self.quant(x)))))
        z = self.conv3(y)
        return self.dequant(self.add(self.act3(z), z))


def _calibrated(data: np.ndarray) -> tuple[_Net, M.Module]:
    net = _Net()
    net.eval()
    qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    qat(mge.tensor(data))
    qat.eval()
    return net, qat


def test_share_activation_scales_pairs_and_scales() -> None:
    data = RNG.normal(size=(4, 3, 8, 8)).astype("float32")
    _, qat = _calibrated(data)
    before = get_scale(qat.conv1.get_activation_dtype())
    pairs = share_activation_scales(qat, mge.tensor(data[:1]))
    assert pairs == [("conv1", "act1"), ("conv2", "act2")]
    for conv, act in ((qat.conv1, qat.act1), (qat.conv2, qat.act2)):
        assert get_scale(conv.get_activation_dtype()) == get_scale(act.get_activation_dtype())
    assert get_scale(qat.conv1.get_activation_dtype()) < before  # finer than the conv's own
    assert not isinstance(qat.conv3.act_observer, type(qat.conv1.act_observer))


def test_share_activation_scales_is_exact_relu6_at_the_finer_step() -> None:
    """The int8 conv + relu6 pair equals the relu6 of the conv's own output quantized
    at the activation's scale (rounding of the float reference aside)."""
    data = RNG.normal(size=(4, 3, 8, 8)).astype("float32")
    _, qat = _calibrated(data)
    share_activation_scales(qat, mge.tensor(data[:1]))
    q = quantize(qat, inplace=False)
    q.eval()
    x = mge.tensor(data[:2])
    xq = q.quant(x)
    pre = mge.functional.elemwise.dequantize(q.conv1(xq)).numpy()
    got = mge.functional.elemwise.dequantize(q.act1(q.conv1(xq))).numpy()
    s = get_scale(q.act1.output_dtype)
    np.testing.assert_array_equal(got, np.clip(pre, 0, s * min(127, round(6 / s))))
    assert np.abs(got - np.clip(got, 0, 6)).max() == 0
    assert float(pre.min()) < -1 and np.mean(got == 0) < 0.9


def test_share_activation_scales_does_not_calibrate() -> None:
    # seed 9: the histogram observers saw the far-out run when they were only disabled
    data = np.random.default_rng(9).normal(size=(4, 3, 8, 8)).astype("float32")
    _, qat = _calibrated(data)
    before = get_scale(qat.conv3.get_activation_dtype())
    share_activation_scales(qat, mge.tensor(100 * data[:1]))  # far outside the calibration
    assert get_scale(qat.conv3.get_activation_dtype()) == before


def test_kept_output_ranges_are_what_the_int8_pairs_pass() -> None:
    """A conv feeding only a relu6/relu keeps ``[0, top]`` of its float output, a conv
    used twice its own int8 range; the int8 conv1 + relu6 pair is the float output
    clipped to that range, rounded."""
    data = RNG.normal(size=(4, 3, 8, 8)).astype("float32")
    _, qat = _calibrated(data)
    share_activation_scales(qat, mge.tensor(data[:1]))
    ranges = kept_output_ranges(qat, mge.tensor(data[:1]))
    s1, s2, s3 = (get_scale(m.get_activation_dtype()) for m in (qat.act1, qat.act2, qat.conv3))
    assert ranges["conv1"] == pytest.approx((0.0, min(127, round(6 / s1)) * s1))
    assert ranges["conv2"] == pytest.approx((0.0, 127 * s2))
    assert ranges["conv3"] == pytest.approx((-128 * s3, 127 * s3))
    assert "quant" in ranges and "act1" in ranges
    q = quantize(qat, inplace=False)
    q.eval()
    xq = q.quant(mge.tensor(data[:2]))
    got = mge.functional.elemwise.dequantize(q.act1(q.conv1(xq))).numpy()
    pre = mge.functional.elemwise.dequantize(q.conv1(xq)).numpy()
    np.testing.assert_array_equal(got, np.clip(pre, *ranges["conv1"]))


def test_shared_scales_dump_runs_bit_exact_in_mge_lite(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from bench.int8_ptq import dump
    from tests.lite.test_int8 import run_lite

    data = RNG.normal(size=(4, 3, 8, 8)).astype("float32")
    _, qat = _calibrated(data)
    share_activation_scales(qat, mge.tensor(data[:1]))
    q = quantize(qat, inplace=False)
    q.eval()
    x = np.ascontiguousarray(data[:1])
    dump(q, x, str(tmp_path / "shared.mge"))
    (out,) = run_lite(tmp_path / "shared.mge", x, backend="numpy")
    np.testing.assert_array_equal(out, q(mge.tensor(x)).numpy())
