"""The transposed-convolution family of ``mge.module.qat`` and ``mge.module.quantized``
(``ConvTranspose2d``, ``ConvTransposeRelu2d``, ``ConvTransposeBn2d``,
``ConvTransposeBnRelu2d``): MegEngine 1.13's quantized ``ConvTranspose2d`` results
(``tests/fixtures/quantization/grads.npz``, keys ``ct/...``), BatchNorm folding on the
transposed weight layout, and the float -> QAT -> quantized road."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.module as M
import mge.module.qat as QAT
import mge.module.quantized as Q
from mge.core.tensor import dtype
from mge.quantization import (
    disable_fake_quant,
    disable_observer,
    min_max_fakequant_qconfig,
    quantize,
    quantize_qat,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "quantization" / "grads.npz"
RNG = np.random.default_rng(11)


def _q(codes: np.ndarray, scale: float) -> mge.Tensor:
    return mge.tensor(codes.astype(dtype.qint8(scale)))


@pytest.mark.parametrize("case", ["1x1", "3x3_pad", "stride2", "dil2"])
def test_quantized_conv_transpose2d_is_megengines(case: str) -> None:
    with np.load(FIXTURE) as z:
        x, w, args, scales, want = (z[f"ct/{case}/{k}"] for k in
                                    ("x", "w", "args", "scales", "out"))
    (stride, pad, dil), (sx, sw, so) = args.tolist(), scales.tolist()
    ic, oc, k = w.shape[0], w.shape[1], w.shape[2]
    m = Q.ConvTranspose2d(ic, oc, k, stride=stride, padding=pad, dilation=dil, bias=False,
                          dtype=dtype.qint8(so))
    m.weight = mge.Parameter(_q(w, sw))
    m.eval()
    got = m(_q(x, sx))
    assert dtype.get_scale(got.dtype) == pytest.approx(so)
    np.testing.assert_array_equal(got.numpy(), want)


def test_bias_and_relu_forms() -> None:
    """MegEngine 1.13 refuses both; mge adds the bias (``qint32``, input scale times weight
    scale) before requantizing and applies relu after."""
    x = _q(RNG.integers(-60, 60, (2, 3, 4, 4)), 0.05)
    w = _q(RNG.integers(-60, 60, (3, 2, 3, 3)), 0.02)
    bias = RNG.uniform(-0.3, 0.3, (1, 2, 1, 1)).astype("float32")
    out_dtype = dtype.qint8(0.1)
    kw = dict(stride=2, padding=1, dtype=out_dtype)
    plain, relu = Q.ConvTranspose2d(3, 2, 3, **kw), Q.ConvTransposeRelu2d(3, 2, 3, **kw)
    for m in (plain, relu):
        m.weight, m.bias = mge.Parameter(w), mge.Parameter(bias)
        m.eval()
    real = M.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    real.weight = mge.Parameter(w.astype("float32"))
    real.bias = mge.Parameter(bias)
    want = np.clip(np.round(real(x.astype("float32")).numpy() / 0.1), -128, 127)
    got = plain(x).numpy().astype(np.float32)
    assert np.abs(got - want).max() <= 1  # bias rounded to the qint32 grid
    np.testing.assert_array_equal(relu(x).numpy(), np.maximum(plain(x).numpy(), 0))


@pytest.mark.parametrize("cls", ["ConvTransposeBn2d", "ConvTransposeBnRelu2d"])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("training", [False, True])
def test_qat_bn_folding_matches_float(cls: str, groups: int, training: bool) -> None:
    """Fake quantization off, a QAT ConvTransposeBn module computes as its float module."""
    float_net = getattr(M, cls)(4, 6, 3, stride=2, padding=1, output_padding=1, groups=groups)
    float_net.bn.running_mean[...] = mge.tensor(RNG.uniform(-1, 1, (1, 6, 1, 1)), "float32")
    float_net.bn.running_var[...] = mge.tensor(RNG.uniform(0.5, 2, (1, 6, 1, 1)), "float32")
    float_net.train(training)
    x = mge.tensor(RNG.standard_normal((2, 4, 5, 5)).astype("float32"))
    want = float_net(x).numpy()
    float_net.train(training)
    qat = getattr(QAT, cls).from_float_module(float_net)
    qat.set_qconfig(min_max_fakequant_qconfig)
    disable_fake_quant(qat)
    disable_observer(qat)
    qat.train(training)
    np.testing.assert_allclose(qat(x).numpy(), want, rtol=1e-4, atol=1e-4)


class _Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant, self.dequant = M.QuantStub(), M.DequantStub()
        self.up = M.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
        self.up_bn = M.ConvTransposeBnRelu2d(4, 4, 2, stride=2, groups=2)
        self.up_relu = M.ConvTransposeRelu2d(4, 2, 3, padding=1)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        return self.dequant(self.up_relu(self.up_bn(self.up(self.quant(x)))))


def test_float_qat_quantized_road() -> None:
    """quantize_qat converts the family, calibration fixes the scales, quantize gives
    integer modules whose output is the QAT module's within one output step."""
    net = _Net()
    net.up_bn.bn.running_var[...] = mge.tensor(RNG.uniform(0.5, 2, (1, 4, 1, 1)), "float32")
    net.eval()
    qat = quantize_qat(net, qconfig=min_max_fakequant_qconfig)
    qat.eval()
    assert isinstance(qat.up, QAT.ConvTranspose2d)
    assert isinstance(qat.up_bn, QAT.ConvTransposeBnRelu2d)
    assert isinstance(qat.up_relu, QAT.ConvTransposeRelu2d)
    batches = [mge.tensor(RNG.standard_normal((2, 3, 5, 5)).astype("float32")) for _ in range(3)]
    for b in batches:
        qat(b)
    disable_observer(qat)
    want = qat(batches[0]).numpy()
    quantized = quantize(qat, inplace=False)
    quantized.eval()
    assert isinstance(quantized.up_bn, Q.ConvTransposeBnRelu2d)
    got = quantized(batches[0]).numpy()
    step = dtype.get_scale(qat.up_relu.get_activation_dtype())
    assert np.abs(got - want).max() <= step * 1.01
