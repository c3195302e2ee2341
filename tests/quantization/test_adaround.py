"""``adaround`` (learned weight rounding) and the layer statistics it optimizes on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.dtype import get_scale
from mge.quantization import (
    adaround,
    calibration_qconfig,
    disable_observer,
    quantize,
    quantize_qat,
    share_activation_scales,
)
from mge.quantization.adaptive_rounding import round_layer
from mge.quantization.clipped_outputs import kept_output_ranges
from mge.quantization.layer_stats import LayerStats, conv_columns
from tests.oracle import requires_oracle

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("groups, stride, padding, dilation, kernel", [
    (1, 1, 0, 1, 1), (1, 2, 1, 1, 3), (4, 1, 1, 1, 3), (8, 2, 1, 1, 3), (2, 1, 2, 2, (3, 1)),
])
def test_conv_columns_reproduce_the_convolution(groups: int, stride: int, padding: int,
                                                dilation: int, kernel: int | tuple) -> None:
    x = RNG.normal(size=(2, 8, 9, 7)).astype("float32")
    conv = M.Conv2d(8, 4 * groups, kernel, stride, padding, dilation, groups=groups, bias=False)
    w = conv.weight.numpy()
    blocks = w.reshape(w.shape[0], w.shape[1], -1) if w.ndim == 5 else w.reshape(1, w.shape[0], -1)
    cols = conv_columns(x, kernel, groups, stride, padding, dilation)
    y = np.matmul(blocks, cols)  # (groups, out per group, N * OH * OW)
    ref = conv(mge.tensor(x)).numpy()
    got = y.reshape(ref.shape[1], ref.shape[0], *ref.shape[2:]).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_layer_stats_error_is_the_mean_squared_output_error() -> None:
    xq, xf = RNG.normal(size=(2, 6, 50)), RNG.normal(size=(2, 6, 50))
    v, w = RNG.normal(size=(2, 3, 6)), RNG.normal(size=(2, 3, 6))
    stats = LayerStats.zeros(2, 6)
    stats.add(xq[:, :, :20], xf[:, :, :20])
    stats.add(xq[:, :, 20:], xf[:, :, 20:])
    direct = np.sum((np.matmul(v, xq) - np.matmul(w, xf)) ** 2) / 50
    assert stats.error(v, w) == pytest.approx(direct, rel=1e-10)


def test_layer_stats_row_errors_are_per_output_channel() -> None:
    xq, xf = RNG.normal(size=(2, 6, 30)), RNG.normal(size=(2, 6, 30))
    v, w = RNG.normal(size=(2, 3, 6)), RNG.normal(size=(2, 3, 6))
    stats = LayerStats.zeros(2, 6)
    stats.add(xq, xf)
    direct = np.sum((np.matmul(v, xq) - np.matmul(w, xf)) ** 2, axis=-1) / 30
    rows = stats.row_errors(v, w)
    assert rows.shape == (2, 3)
    np.testing.assert_allclose(rows, direct, rtol=1e-10)
    assert stats.error(v, w) == pytest.approx(rows.sum(), rel=1e-12)


def test_layer_stats_mask_counts_only_the_kept_columns_per_group() -> None:
    xq, xf = RNG.normal(size=(3, 4, 40)), RNG.normal(size=(3, 4, 40))
    mask = RNG.random((3, 40)) < 0.6
    masked = LayerStats.zeros(3, 4)
    masked.add(xq, xf, mask)
    v, w = RNG.normal(size=(3, 1, 4)), RNG.normal(size=(3, 1, 4))
    direct = sum(np.sum((v[g] @ xq[g][:, mask[g]] - w[g] @ xf[g][:, mask[g]]) ** 2)
                 for g in range(3)) / 40
    assert masked.count == 40
    assert masked.error(v, w) == pytest.approx(direct, rel=1e-10)


def test_round_layer_moves_codes_by_at_most_one_and_lowers_the_error() -> None:
    mix = RNG.normal(size=(32, 32)) + 3 * np.eye(32)  # correlated inputs: rounding matters
    x = np.matmul(mix, RNG.normal(size=(32, 400)))[None]
    stats = LayerStats.zeros(1, 32)
    stats.add(x, None)
    w = RNG.normal(size=(1, 16, 32)) * 0.1
    scale = float(np.abs(w).max() / 7)  # a coarse grid
    nearest = np.clip(np.round(w / scale), -7, 7)
    codes = round_layer(w, scale, -7, 7, stats, iters=300)
    assert np.abs(codes - nearest).max() <= 1
    assert np.all((codes == np.floor(w / scale)) | (codes == np.floor(w / scale) + 1))
    assert stats.error(codes * scale, w) < 0.7 * stats.error(nearest * scale, w)
    np.testing.assert_array_equal(codes, round_layer(w, scale, -7, 7, stats, iters=300))


class _Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = M.QuantStub()
        self.conv1 = M.Conv2d(3, 16, 3, padding=1)
        self.act1 = M.Elemwise("relu6")
        self.conv2 = M.Conv2d(16, 16, 3, stride=2, padding=1, groups=16)
        self.conv3 = M.Conv2d(16, 8, 1)
        self.dequant = M.DequantStub()
        self.fc = M.Linear(8, 5)
        self.fc.disable_quantize()
        for m in (self.conv1, self.conv2, self.conv3, self.fc):
            m.weight[...] = mge.tensor(RNG.normal(0, 0.5, m.weight.shape).astype("float32"))

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = self.conv3(self.conv2(self.act1(self.conv1(self.quant(x)))))
        return self.fc(F.flatten(F.mean(self.dequant(y), axis=(2, 3)), 1))


def _calibrated() -> tuple[_Net, M.Module, np.ndarray]:
    net = _Net()
    net.eval()
    data = RNG.normal(size=(16, 3, 8, 8)).astype("float32")
    qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    qat(mge.tensor(data))
    disable_observer(qat)
    qat.eval()
    return net, qat, data


@pytest.mark.parametrize("sequential", [True, False])
def test_adaround_changes_codes_by_one_and_lowers_each_layer_error(sequential: bool) -> None:
    net, qat, data = _calibrated()
    before = quantize(qat, inplace=False)
    report = adaround(qat, [data[:8], data[8:]], float_module=net, iters=300,
                      sequential=sequential, progress=False)
    assert sorted(report) == ["conv1", "conv2", "conv3"]  # fc stays float (no QAT module)
    after = quantize(qat, inplace=False)
    flipped = 0
    for name, r in report.items():
        old, new = getattr(before, name).weight, getattr(after, name).weight
        assert get_scale(new.dtype) == get_scale(old.dtype)  # the scale is the observer's
        a, b = _codes(old), _codes(new)
        assert np.abs(a - b).max() <= 1
        assert int((a != b).sum()) == r.flipped
        assert r.error <= r.nearest_error
        flipped += r.flipped
    assert flipped > 0
    assert sum(r.error for r in report.values()) < sum(r.nearest_error for r in report.values())


def test_adaround_per_channel_never_loses_on_a_channel() -> None:
    """Per channel, the chosen codes' error is at most nearest rounding's (the fallback is
    per output channel), and the layer's total error is not above the nearest one."""
    net, qat, data = _calibrated()
    near = quantize(qat, inplace=False)
    near_codes = {n: _codes(getattr(near, n).weight) for n in ("conv1", "conv2", "conv3")}
    report = adaround(qat, data, float_module=net, iters=300, per_channel=True,
                      progress=False)
    after = quantize(qat, inplace=False)
    after.eval()
    assert sum(r.flipped for r in report.values()) > 0
    for name, r in report.items():
        assert r.error <= r.nearest_error
        new = _codes(getattr(after, name).weight)
        changed = (new != near_codes[name]).reshape(len(new), -1).any(axis=1)
        assert int((new != near_codes[name]).sum()) == r.flipped
        if name == "conv1":  # its input is the quantized data itself: compare per channel
            qin = F.elemwise.dequantize(after.quant(mge.tensor(data))).numpy()

            def out(codes: np.ndarray, inp: np.ndarray, n: str = name) -> np.ndarray:
                scale = get_scale(getattr(after, n).weight.dtype)
                return F.conv2d(mge.tensor(inp), mge.tensor((codes * scale).astype("float32")),
                                padding=1).numpy()

            ref = out(net.conv1.weight.numpy() / get_scale(after.conv1.weight.dtype), data)
            err_new = ((out(new, qin) - ref) ** 2).sum(axis=(0, 2, 3))
            err_near = ((out(near_codes[name], qin) - ref) ** 2).sum(axis=(0, 2, 3))
            assert changed.any()
            assert np.all(err_new[changed] < err_near[changed] * (1 + 1e-4))


def test_adaround_masked_counts_a_depthwise_error_only_where_relu6_keeps_it() -> None:
    net = M.Sequential(M.QuantStub(), M.Conv2d(8, 8, 3, padding=1, groups=8), M.Elemwise("relu6"),
                       M.Conv2d(8, 4, 1), M.DequantStub())
    dw = net[1]
    dw.weight[...] = mge.tensor(RNG.normal(0, 0.5, dw.weight.shape).astype("float32"))
    dw.bias[...] = mge.tensor(RNG.normal(0, 2, dw.bias.shape).astype("float32"))
    net.eval()
    x = RNG.normal(0, 2, size=(6, 8, 7, 7)).astype("float32")
    qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    qat(mge.tensor(x))
    disable_observer(qat)
    qat.eval()
    share_activation_scales(qat, mge.tensor(x[:1]))
    lo, hi = kept_output_ranges(qat, mge.tensor(x[:1]))["1"]
    scale = get_scale(qat[1].get_weight_dtype())
    w = dw.weight.numpy().reshape(8, 1, 1, 3, 3)
    nearest = np.clip(np.round(w / scale), -127, 127) * scale
    stub = quantize(qat, inplace=False)[0]
    stub.eval()
    xq = F.elemwise.dequantize(stub(mge.tensor(x))).numpy()
    report = adaround(qat, x, float_module=net, iters=200, masked=True, progress=False)

    def conv(inp: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return F.conv2d(mge.tensor(inp), mge.tensor(weight.astype("float32")), padding=1,
                        groups=8).numpy()

    y_float = conv(x, w)
    kept = (y_float + dw.bias.numpy() > lo) & (y_float + dw.bias.numpy() < hi)
    assert 0.2 < kept.mean() < 0.8  # the relu6 clips a good part of the outputs
    direct = np.sum(((conv(xq, nearest) - y_float) * kept) ** 2) / (6 * 7 * 7)
    everywhere = np.sum((conv(xq, nearest) - y_float) ** 2) / (6 * 7 * 7)
    r = report["1"]
    # adaround keeps the float input in float16: a few outputs at the range's edges differ
    assert r.nearest_error == pytest.approx(direct, rel=1e-2)
    assert everywhere > 1.2 * direct
    assert r.error <= r.nearest_error


def _codes(weight: mge.Tensor) -> np.ndarray:
    """The int8 codes of a quantized weight."""
    return np.round(F.elemwise.dequantize(weight).numpy() / get_scale(weight.dtype)).astype(int)


def test_adaround_bad_input() -> None:
    net, qat, data = _calibrated()
    with pytest.raises(ValueError, match="no calibration data"):
        adaround(qat, [], progress=False)
    with pytest.raises(ValueError, match="no float module"):
        adaround(qat, data, float_module=M.Sequential(M.Conv2d(3, 3, 1)), progress=False)


def _dump(net: M.Module, x: np.ndarray, path: Path) -> None:
    from mge.jit import trace

    @trace(symbolic=True, capture_as_const=True)
    def fn(data: mge.Tensor) -> mge.Tensor:
        return net(data)

    fn(mge.tensor(x))
    fn.dump(str(path), arg_names=["data"])


@requires_oracle
def test_adaround_dump_runs_bit_exact_in_megengine_lite(tmp_path: Path) -> None:
    from tests.lite.test_int8 import run_lite
    from tests.oracle import run_in_megengine

    net, qat, data = _calibrated()
    adaround(qat, data, float_module=net, iters=200, progress=False)
    q = quantize(qat, inplace=False)
    q.eval()
    x = np.ascontiguousarray(data[:1])
    _dump(q, x, tmp_path / "adaround.mge")
    ours = run_lite(tmp_path / "adaround.mge", x)[0]
    (theirs,) = run_in_megengine(tmp_path / "adaround.mge", {"data": x}).values()
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)  # float tail: mean, fc
    np.testing.assert_allclose(ours, q(mge.tensor(x)).numpy(), rtol=0, atol=1e-5)
