"""FakeQuant, TQT and LSQ (``mge.quantization.fake_quant_ops``): forwards and gradients
against MegEngine 1.13's (``tests/fixtures/quantization/grads.npz``, made by
``gen_oracle_grads.py`` with the real MegEngine), per-tensor and per-channel scales; and
a QAT step that trains through them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.module as M
from mge.autodiff import GradManager
from mge.core.autodiff.grad import Function, Grad
from mge.quantization import TQT, QuantMode, create_qparams, quantize_qat
from mge.quantization.utils import fake_quant_tensor, lsq_forward, tqt_forward

FIXTURE = Path(__file__).parents[1] / "fixtures" / "quantization" / "grads.npz"


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return dict(data)


def _run(fn: Callable, x: np.ndarray, s: np.ndarray, dy: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, mge.Tensor | None]:
    tx, ts = mge.tensor(x), mge.tensor(s)
    gm = GradManager().attach([tx, ts])
    with gm:
        y = fn(tx, ts)
        gm.backward(y, mge.tensor(dy))
    return y.numpy(), tx.grad.numpy(), ts.grad


def _check(golden: dict, key: str, fn: Callable, rtol: float = 1e-5) -> None:
    g = {k[len(key) + 1:]: v for k, v in golden.items() if k.startswith(key + "/")}
    y, dx, ds = _run(fn, g["x"], g["s"], g["dy"])
    np.testing.assert_allclose(y, g["y"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, g["dx"], rtol=rtol, atol=1e-6)
    if "ds" in g:
        assert ds is not None, f"{key}: no gradient for the scale"
        assert ds.shape == g["ds"].shape
        np.testing.assert_allclose(ds.numpy(), g["ds"], rtol=rtol, atol=1e-4)
    else:  # MegEngine's FakeQuant gives the scale no gradient
        assert ds is None


@pytest.mark.parametrize("case", ["tensor_sym", "tensor_asym", "channel_sym", "channel_asym"])
def test_fake_quant_gradient_is_megengines(golden: dict, case: str) -> None:
    zp = golden.get(f"fq/{case}/zp")
    mode, name = (QuantMode.SYMMERTIC, "qint8") if zp is None else (QuantMode.ASYMMERTIC,
                                                                     "quint8")

    def fq(x: mge.Tensor, s: mge.Tensor) -> mge.Tensor:
        q = create_qparams(mode, name, s, None if zp is None else mge.tensor(zp))
        return fake_quant_tensor(x, q)

    _check(golden, f"fq/{case}", fq)
    assert np.isnan(golden[f"fq/{case}/y"].flat[0])  # a NaN stays NaN (compared in _check)


@pytest.mark.parametrize("case", ["tensor", "channel"])
def test_tqt_gradients_are_megengines(golden: dict, case: str) -> None:
    _check(golden, f"tqt/{case}", lambda x, s: tqt_forward(-127, 127, x, s), rtol=5e-5)


@pytest.mark.parametrize("case", ["tensor", "channel"])
def test_lsq_gradients_are_megengines(golden: dict, case: str) -> None:
    zp, g = golden[f"lsq/{case}/zp"], golden[f"lsq/{case}/g"]
    _check(golden, f"lsq/{case}",
           lambda x, s: lsq_forward(-128, 127, x, s, mge.tensor(zp), mge.tensor(g)))


def test_lsq_defaults_and_untracked_scale() -> None:
    """Without zero point and gradient scale LSQ uses 0 and 1; an untracked scale gets
    no gradient while the input still does (a straight-through estimator inside the range)."""
    x = mge.tensor([0.26, 10.0, -10.0])
    got = []
    with Grad() as grad:
        grad.wrt(x, callback=got.append)
        y = lsq_forward(-4, 4, x, mge.tensor([0.5]))
        grad(y, mge.tensor([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(y.numpy(), [0.5, 2.0, -2.0])
    np.testing.assert_array_equal(got[0].numpy(), [1.0, 0.0, 0.0])


def test_forwards_outside_a_session_are_plain_values() -> None:
    q = create_qparams(QuantMode.SYMMERTIC, "qint8", mge.tensor(0.5))
    y = fake_quant_tensor(mge.tensor([0.2, 0.3, 100.0]), q)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.5, 63.5])
    assert y._tape is None


def test_function_is_where_megengine_keeps_it() -> None:
    """``megengine.core.autodiff.grad.Function`` is mge's ``Function``."""
    from mge.core.autodiff.function import Function as Home

    assert Function is Home


def test_qat_training_moves_weights_and_the_tqt_scale() -> None:
    """One SGD step through a QAT Linear with TQT fake quantization changes the weight and
    the learned scale: before, ``round`` cut every gradient."""
    from mge.optimizer import SGD
    from mge.quantization import tqt_qconfig

    rng = np.random.default_rng(3)
    net = quantize_qat(M.Sequential(M.QuantStub(), M.Linear(4, 3), M.DequantStub()),
                       qconfig=tqt_qconfig)
    fq = net[1].weight_fake_quant
    assert isinstance(fq, TQT)
    fq.scale[...] = mge.tensor(-4.0)
    params = list(net.parameters())
    before = [p.numpy().copy() for p in params]
    opt, gm = SGD(params, lr=0.1), GradManager().attach(params)
    with gm:
        loss = (net(mge.tensor(rng.standard_normal((8, 4)).astype("float32"))) ** 2).sum()
        gm.backward(loss)
    opt.step()
    moved = {id(p): not np.array_equal(b, p.numpy()) for p, b in zip(params, before)}
    assert moved[id(net[1].weight)] and moved[id(fq.scale)]
