"""Rules that use a fused backward op (``BatchNormBackward``) when nothing differentiates
the gradients, and compose ops when an outer session does: both paths agree, and
higher-order gradients still flow through the composed one."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.autodiff import GradManager
from mge.backends import available_backends, get_default_backend, set_default_backend


@pytest.fixture(params=[b for b in ("numpy", "torch") if b in available_backends()])
def backend(request: pytest.FixtureRequest):  # noqa: ANN201
    before = get_default_backend()
    set_default_backend(request.param)
    yield request.param
    set_default_backend(before)


def _bn_grads(nested: bool) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    x = mge.tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32))
    w = mge.tensor(rng.uniform(0.5, 2, (1, 3, 1, 1)).astype(np.float32))
    b = mge.tensor(rng.standard_normal((1, 3, 1, 1)).astype(np.float32))
    dy = mge.tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32))
    outer, inner = GradManager().attach([x]), GradManager().attach([x, w, b])
    with outer if nested else GradManager():
        with inner:
            y = F.batch_norm(x, weight=w, bias=b, training=True)
            inner.backward(y, dy)
    return [t.grad.numpy() for t in (x, w, b)]


def test_fused_and_composed_batch_norm_gradients_agree(backend: str) -> None:
    fused, composed = _bn_grads(False), _bn_grads(True)
    for got, want in zip(fused, composed, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_second_order_through_batch_norm(backend: str) -> None:
    rng = np.random.default_rng(1)
    x = mge.tensor(rng.standard_normal((3, 2, 4, 4)).astype(np.float32))
    w = mge.tensor(np.ones((1, 2, 1, 1), np.float32))
    b = mge.tensor(np.zeros((1, 2, 1, 1), np.float32))
    outer, inner = GradManager().attach([w]), GradManager().attach([x])
    with outer:
        with inner:
            y = F.batch_norm(x, weight=w, bias=b, training=True)
            inner.backward((y * y * y).sum())
        dx = x.grad
        outer.backward((dx * dx).sum())
    assert w.grad is not None and np.isfinite(w.grad.numpy()).all()
    assert np.abs(w.grad.numpy()).sum() > 0


@pytest.mark.parametrize("nested", [False, True], ids=["fused", "composed"])
def test_max_pool_gives_every_tied_maximum_the_gradient(backend: str, nested: bool) -> None:
    # MegEngine 1.13 (the oracle) answers [[1, 0, 1, 0], [0, 2, 2, 0]] here; torch would
    # give the first maximum only
    x = mge.tensor(np.array([[[[3, 1, 3, 2], [0, 5, 5, 1]]]], np.float32))
    outer, inner = GradManager().attach([x]), GradManager().attach([x])
    with outer if nested else GradManager():
        with inner:
            y = F.max_pool2d(x, (1, 4), stride=1)
            inner.backward(y, mge.tensor(np.array([[[[1.0], [2.0]]]], np.float32)))
    np.testing.assert_array_equal(x.grad.numpy(), [[[[1, 0, 1, 0], [0, 2, 2, 0]]]])
