"""GradManager and Function semantics (MegEngine 1.13): attach and callbacks, dy,
record/release, nested managers (higher order), groups, weak references, errors."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.autodiff import Function, GradManager

X = np.array([0.1, 0.5, 0.9, 1.3], np.float32)


def test_backward_with_dy_accumulates_and_releases() -> None:
    w = mge.Parameter([2.0, 3.0])
    gm = GradManager().attach(w)
    for _ in range(2):
        with gm:
            gm.backward(w * w, dy=mge.tensor([1.0, 10.0]))
    np.testing.assert_allclose(w.grad.numpy(), [8.0, 120.0])
    with pytest.raises(RuntimeError, match="no computation history"):
        gm.backward(w)


def test_callbacks_run_in_order_before_accumulation() -> None:
    w = mge.Parameter([1.0])
    seen = []
    gm = GradManager().attach(w, callbacks=lambda t, g: seen.append("a") or g * 2)
    gm.attach(w, callbacks=[lambda t, g: seen.append("b") or g + 1])
    with gm:
        gm.backward(w * 3)
    assert seen == ["a", "b"] and w.grad.item() == 7.0
    assert gm.attached_tensors() == [w]


def test_only_float_tensors_attach() -> None:
    with pytest.raises(AssertionError, match="floating point"):
        GradManager().attach(mge.tensor([1], dtype="int32"))


def test_attached_temporaries_are_freed() -> None:
    w = mge.Parameter(2.0)
    gm = GradManager().attach(w)
    with gm:
        x = mge.tensor(3.0)
        gm.attach(x)
        ref = weakref.ref(x)
        gm.backward(x * w)
    assert x.grad.item() == 2.0 and w.grad.item() == 3.0
    del x
    gc.collect()
    assert ref() is None and len(gm.attached_tensors()) == 1


def test_second_order_with_nested_managers() -> None:
    x = mge.tensor(X)
    gm, gm2 = GradManager().attach(x), GradManager().attach(x)
    with gm:
        with gm2:
            gm2.backward(F.cos(x))
        np.testing.assert_allclose(x.grad.numpy(), -np.sin(X), rtol=1e-5)
        gm.backward(x.grad)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(X) - np.cos(X), rtol=1e-5)


def test_grouped_managers_do_not_see_each_other() -> None:
    x = mge.tensor(X)
    gm, gm2 = GradManager().attach(x), GradManager().attach(x)
    with gm | gm2:
        gm2.backward(F.cos(x))
        gm.backward(x.grad)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(X), rtol=1e-5)


def test_function_custom_backward_and_second_order() -> None:
    class Sin(Function):
        def forward(self, x):
            self.x = x
            return F.sin(x)

        def backward(self, dy):
            return F.cos(self.x) * dy

    x = mge.tensor(X)
    gm, gm2 = GradManager().attach(x), GradManager().attach(x)
    with gm:
        with gm2:
            gm2.backward(Sin()(x))
        gm.backward(x.grad)
    np.testing.assert_allclose(x.grad.numpy(), np.cos(X) - np.sin(X), rtol=1e-5)
    with pytest.raises(TypeError, match="expect type Tensor"):
        Sin()(1.0)


def test_unused_branch_has_no_grad_and_where_routes_gradients() -> None:
    x, y = mge.Parameter(F.full(4, 0.5)), mge.Parameter(F.ones(4))
    unused = mge.Parameter(1.0)
    gm = GradManager().attach([x, y, unused])
    with gm:
        gm.backward(F.where(x > 0.7, x, y).sum())
    np.testing.assert_array_equal(x.grad.numpy(), 0)
    np.testing.assert_array_equal(y.grad.numpy(), 1)
    assert unused.grad is None


def test_detach_stops_gradients_and_zero_grad() -> None:
    net = M.Linear(3, 2)
    gm = GradManager().attach(net.parameters())
    x = mge.tensor(np.ones((4, 3), np.float32))
    with gm:
        out = net(x)
        gm.backward((out + out.detach() * 100).sum())
    np.testing.assert_allclose(net.weight.grad.numpy(), np.full((2, 3), 4.0))
    net.zero_grad()
    np.testing.assert_array_equal(net.weight.grad.numpy(), 0)


def test_op_without_rule_names_the_op() -> None:
    x = mge.tensor(np.random.default_rng(0).random((1, 1, 2, 4, 4), np.float32))
    gm = GradManager().attach(x)
    with gm:
        y = F.vision.interpolate(x, size=(4, 8, 8), mode="trilinear")
        with pytest.raises(NotImplementedError, match="Resize3D"):
            gm.backward(y.sum())


def test_grad_scaler_and_autocast() -> None:
    x = mge.tensor(np.ones((2, 3), np.float32))
    w = mge.Parameter(np.full((4, 3), 0.5, np.float32))
    gm, scaler = GradManager().attach(w), mge.amp.GradScaler(init_scale=8.0)
    with mge.amp.autocast():
        assert mge.amp.enabled
        with gm:
            out = F.linear(x, w)
            assert out.dtype == np.float16
            scaler.backward(gm, out.astype("float32").sum())
    assert not mge.amp.enabled
    assert w.grad.dtype == np.float32
    np.testing.assert_allclose(w.grad.numpy(), np.full((4, 3), 2.0))
    w.grad = mge.tensor(np.full((4, 3), np.inf, np.float32))
    scaler.unscale([w]).update()
    assert w.grad is None and scaler.scale_factor == 4.0


def test_symbolic_trace_of_a_training_step_keeps_training() -> None:
    from mge import optimizer
    from mge.jit import trace

    w = mge.Parameter(1.0)
    gm = GradManager().attach(w)
    opt = optimizer.SGD([w], lr=0.1)

    @trace(symbolic=True)
    def step(x):
        with gm:
            loss = x * w
            gm.backward(loss)
        opt.step().clear_grad()
        return loss

    for _ in range(3):
        step(mge.tensor(2.0))
    assert w.item() == pytest.approx(1.0 - 3 * 0.2)
