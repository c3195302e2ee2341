"""``LAMBUpdate`` and ``optimizer.LAMB`` against real MegEngine 1.13 (``lamb.npz``, made
by ``tests/fixtures/optim/gen_oracle.py``), on every eager backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.autodiff import GradManager
from mge.backends import available_backends, get_default_backend, set_default_backend
from mge.core.apply import apply
from mge.core.opdef import OpError
from mge.ops.optim import LAMBUpdate
from mge.optimizer import LAMB

GOLDEN = np.load(Path(__file__).parents[1] / "fixtures" / "optim" / "lamb.npz")
OPS = sorted({k.split("__")[0] for k in GOLDEN.files if k.startswith("op")})
RUNS = sorted({k.split("__")[0] for k in GOLDEN.files if k.startswith("run")})
BACKENDS = [b for b in ("numpy", "torch") if b in available_backends()]


@pytest.fixture(params=BACKENDS)
def backend(request):
    previous = get_default_backend()
    set_default_backend(request.param)
    yield request.param
    set_default_backend(previous)


def _op(key: str) -> LAMBUpdate:
    b1, b2, step, lr, wd, eps, bias, adapt = GOLDEN[f"{key}__params"].tolist()
    return LAMBUpdate(b1, b2, step, lr, wd, eps, bool(bias), bool(adapt))


@pytest.mark.parametrize("key", OPS)
def test_lamb_update_matches_megengine(key: str, backend: str) -> None:
    inputs = [mge.tensor(GOLDEN[f"{key}__in{j}"]) for j in range(4)]
    outs = apply(_op(key), *inputs)
    for j, got in enumerate(outs):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.numpy(), GOLDEN[f"{key}__out{j}"], rtol=1e-5,
                                   atol=1e-6, err_msg=f"{key} output {j}")


@pytest.mark.parametrize("key", RUNS)
def test_lamb_optimizer_matches_megengine(key: str, backend: str) -> None:
    lr, wd, adapt, steps = GOLDEN[f"{key}__params"].tolist()
    w = mge.Parameter(GOLDEN[f"{key}__w0"])
    x = mge.tensor(GOLDEN[f"{key}__x"])
    gm = GradManager().attach([w])
    opt = LAMB([w], lr=lr, weight_decay=wd, always_adapt=bool(adapt))
    for s in range(1, int(steps) + 1):
        with gm:
            gm.backward(F.sum(F.matmul(x, w) ** 2))
        opt.step().clear_grad()
        np.testing.assert_allclose(w.numpy(), GOLDEN[f"{key}__w{s}"], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{key} step {s}")
    assert int(opt._state[w]["step"]) == int(steps)


def test_trust_ratio_uses_the_true_norm() -> None:
    """MegEngine's CPU kernel loses every ``param**2 < 1`` from ``|param|``; mge does not."""
    p = np.full((4,), 0.5, np.float32)
    g = np.ones((4,), np.float32)
    zeros = np.zeros((4,), np.float32)
    op = LAMBUpdate(0.9, 0.999, 1.0, 0.1, 0.0, 0.0, True, True)
    _, _, new_p = apply(op, *map(mge.tensor, (zeros, zeros, p, g)))
    # direction r = 1 everywhere: |p| = 1, |r| = 2, so the step is lr * 0.5
    np.testing.assert_allclose(new_p.numpy(), p - 0.05, rtol=1e-6)


@pytest.mark.parametrize("bad, match", [
    ([np.zeros(3, "f4")] * 3 + [np.zeros(4, "f4")], "same shape"),
    ([np.zeros(3, "f4")] * 2 + [np.zeros(3, "f2"), np.zeros(3, "f4")], "float32"),
    ([np.zeros(3, "f4")] * 3 + [np.zeros(3, "i4")], "grad must be float32 or float16"),
])
def test_lamb_update_refuses_bad_inputs(bad, match: str) -> None:
    op = LAMBUpdate(0.9, 0.999, 1.0, 0.1, 0.0, 1e-8, True, False)
    with pytest.raises(OpError, match=rf"LAMBUpdate.*{match}"):
        apply(op, *map(mge.tensor, bad))
