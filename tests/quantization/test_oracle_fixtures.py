"""Quantized dtypes, fake quantization, observers and the float -> QAT -> quantized road,
against MegEngine 1.13's own results (``tests/fixtures/quantization``, made by its
``gen_oracle.py`` with the real MegEngine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.core.tensor import dtype
from mge.quantization import (
    QuantMode,
    calibration_qconfig,
    create_qparams,
    disable_fake_quant,
    ema_fakequant_qconfig,
    enable_fake_quant,
    quantize,
    quantize_qat,
)
from mge.quantization.observer import (
    ExponentialMovingAverageObserver,
    HistogramObserver,
    MinMaxObserver,
)
from mge.quantization.utils import fake_quant_tensor, lsq_forward, tqt_forward
from tests.fixtures.quantization.nets import build

FIXTURE = Path(__file__).parents[1] / "fixtures" / "quantization" / "oracle.npz"


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return dict(data)


QDTYPES = {
    "qint8": dtype.qint8(0.1), "quint8": dtype.quint8(0.1, 128), "qint32": dtype.qint32(0.1),
    "qint4": dtype.qint4(0.1), "quint4": dtype.quint4(0.1, 8),
}


@pytest.mark.parametrize("name", sorted(QDTYPES))
def test_astype_quantized_and_back(golden: dict, name: str) -> None:
    q = mge.tensor(golden[f"cvt/{name}/in"]).astype(QDTYPES[name])
    assert dtype.is_dtype_equal(q.dtype, QDTYPES[name])
    np.testing.assert_array_equal(q.numpy(), golden[f"cvt/{name}/q"])
    np.testing.assert_array_equal(q.astype("float32").numpy(), golden[f"cvt/{name}/back"])


def test_fake_quant_forwards(golden: dict) -> None:
    x = mge.tensor(golden["fq/in"])
    sym = create_qparams(QuantMode.SYMMERTIC, "qint8", mge.tensor(0.05))
    asym = create_qparams(QuantMode.ASYMMERTIC, "quint8", mge.tensor(0.03), mge.tensor(100.0))
    np.testing.assert_array_equal(fake_quant_tensor(x, sym).numpy(), golden["fq/sym"])
    np.testing.assert_array_equal(fake_quant_tensor(x, asym).numpy(), golden["fq/asym"])
    np.testing.assert_allclose(
        tqt_forward(-128, 127, x, mge.tensor(-4.3)).numpy(), golden["fq/tqt"], rtol=1e-6
    )
    lsq = lsq_forward(0, 255, x, mge.tensor(0.04), mge.tensor(90.0), mge.tensor(1.0))
    np.testing.assert_array_equal(lsq.numpy(), golden["fq/lsq"])


def test_observers(golden: dict) -> None:
    observers = {
        "minmax_sym": MinMaxObserver(),
        "minmax_asym": MinMaxObserver(mode=QuantMode.ASYMMERTIC, dtype="quint8"),
        "ema": ExponentialMovingAverageObserver(momentum=0.8),
        "hist": HistogramObserver(bins=256, upsample_rate=16),
    }
    for key, obs in observers.items():
        for i in range(3):
            obs(mge.tensor(golden[f"obs/batch{i}"]))
        qp = obs.get_qparams()
        np.testing.assert_allclose(obs.min_val.numpy(), golden[f"obs/{key}/min"], rtol=1e-6)
        np.testing.assert_allclose(obs.max_val.numpy(), golden[f"obs/{key}/max"], rtol=1e-6)
        np.testing.assert_allclose(qp.scale.numpy(), golden[f"obs/{key}/scale"], rtol=1e-6)
        if f"obs/{key}/zero_point" in golden:
            np.testing.assert_array_equal(qp.zero_point.numpy(), golden[f"obs/{key}/zero_point"])
    np.testing.assert_allclose(
        observers["hist"].histogram.numpy(), golden["obs/hist/histogram"], rtol=1e-5
    )


def _float_net(golden: dict) -> M.Module:
    net = build(M, F)()
    net.load_state_dict({k[len("net/state/"):]: v for k, v in golden.items()
                         if k.startswith("net/state/")})
    net.eval()
    return net


def test_float_net(golden: dict) -> None:
    out = _float_net(golden)(mge.tensor(golden["net/x"])).numpy()
    np.testing.assert_allclose(out, golden["net/float"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tag", ["ema", "calib"])
def test_qat_and_quantized_net(golden: dict, tag: str) -> None:
    qconfig = {"ema": ema_fakequant_qconfig, "calib": calibration_qconfig}[tag]
    qat = quantize_qat(_float_net(golden), inplace=False, qconfig=qconfig)
    qat.train()
    if tag == "ema":
        disable_fake_quant(qat)
    for i in range(3):
        qat(mge.tensor(golden[f"net/calib{i}"]))
    enable_fake_quant(qat)
    qat.eval()
    x = mge.tensor(golden["net/x"])
    step = float(golden[f"net/{tag}/act_scale/fc"])
    # the QAT outputs are on the grid of the last fake quantization: equal up to one step
    np.testing.assert_allclose(qat(x).numpy(), golden[f"net/{tag}/qat"], atol=step * 1.01)
    # (HistogramObserver observes in eval mode too, as MegEngine's: compare after the call)
    for key, value in qat.state_dict().items():
        ref = golden.get(f"net/{tag}/qat_state/{key}")
        if ref is None:
            continue
        if key.endswith("histogram"):
            # last-ulp differences of the activations may move a value to the next bin
            value, ref = np.cumsum(value), np.cumsum(ref)
            np.testing.assert_allclose(value, ref, atol=1.0, err_msg=key)
        else:
            np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-5, err_msg=key)
    q = quantize(qat, inplace=False)
    q.eval()
    out = q(x).numpy()
    np.testing.assert_allclose(out, golden[f"net/{tag}/quantized"], atol=step * 1.01)
    agree = np.isclose(out, golden[f"net/{tag}/quantized"], atol=step * 0.01).mean()
    assert agree >= 0.9, f"only {agree:.0%} of the quantized outputs equal MegEngine's"
