"""``mge.quantization.correct_bias``: empirical per-channel bias correction after PTQ."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.module as M
from mge.quantization import calibration_qconfig, correct_bias, quantize, quantize_qat

RNG = np.random.default_rng(0)


class Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = M.QuantStub()
        self.conv1 = M.ConvRelu2d(3, 16, 3, padding=1)
        self.conv2 = M.Conv2d(16, 8, 3, padding=1)
        self.fc = M.Linear(8 * 6 * 6, 5)
        self.dequant = M.DequantStub()
        # weights just below a quantization step's middle in many places: rounding them
        # to per-tensor int8 shifts every output channel's mean the same way
        for conv in (self.conv1, self.conv2):
            w = RNG.normal(0, 0.05, conv.weight.shape).astype("float32")
            w.flat[0] = 1.0
            conv.weight[...] = mge.tensor(w + 0.003)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = self.conv2(self.conv1(self.quant(x)))
        return self.dequant(self.fc(y.reshape(y.shape[0], -1)))


def _ptq(data: np.ndarray) -> tuple[Net, M.Module]:
    net = Net()
    net.eval()
    qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    qat(mge.tensor(data))
    q = quantize(qat, inplace=False)
    q.eval()
    return net, q


def _conv2_mean(module: M.Module, x: np.ndarray) -> np.ndarray:
    seen = []
    handle = module.conv2.register_forward_hook(lambda m, i, o: seen.append(o))
    module(mge.tensor(x))
    handle.remove()
    out = seen[0]
    if out.dtype != np.float32:
        out = mge.functional.elemwise.dequantize(out)
    return out.numpy().mean(axis=(0, 2, 3))


def test_correct_bias_moves_channel_means_to_the_float_ones() -> None:
    data = RNG.normal(0, 1, (16, 3, 6, 6)).astype("float32")
    net, q = _ptq(data)
    before = np.abs(_conv2_mean(q, data) - _conv2_mean(net, data))
    corrections = correct_bias(net, q, [data[:8], data[8:]])
    after = np.abs(_conv2_mean(q, data) - _conv2_mean(net, data))
    assert set(corrections) == {"conv1", "conv2", "fc"}
    assert after.mean() < 0.5 * before.mean()
    step = mge.dtype.get_scale(q.conv2.output_dtype)
    assert after.max() < 0.1 * step  # well inside one output step of the float mean


def test_correct_bias_changes_only_the_bias() -> None:
    data = RNG.normal(0, 1, (8, 3, 6, 6)).astype("float32")
    net, q = _ptq(data)
    weight, bias = q.conv2.weight.numpy().copy(), q.conv2.bias.numpy().copy()
    corrections = correct_bias(net, q, mge.tensor(data))
    np.testing.assert_array_equal(q.conv2.weight.numpy(), weight)
    np.testing.assert_allclose(q.conv2.bias.numpy().ravel(), bias.ravel() +
                               corrections["conv2"], rtol=1e-6, atol=1e-7)
    assert corrections["conv2"].shape == (8,) and corrections["fc"].shape == (5,)


def test_correct_bias_needs_matching_float_modules() -> None:
    data = RNG.normal(0, 1, (4, 3, 6, 6)).astype("float32")
    _, q = _ptq(data)
    with pytest.raises(ValueError, match="'conv1' has no float module"):
        correct_bias(M.Sequential(M.Identity()), q, data)
    with pytest.raises(ValueError, match="no calibration data"):
        correct_bias(Net(), q, [])
