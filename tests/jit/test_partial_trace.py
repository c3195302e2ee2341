"""``jit.partial_trace``: a traced piece inside an eager training step (MegEngine 1.13)."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge import Parameter
from mge.autodiff import GradManager
from mge.jit import TraceError, partial_trace
from mge.module import Module


class _Simple(Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = Parameter([1.0], dtype=np.float32)
        self.b = Parameter([2.0], dtype=np.float32)

    @partial_trace
    def forward(self, x):
        return F.exp(x * self.a + x / self.b)


def _step(m: _Simple, gm: GradManager, fwd_only) -> mge.Tensor:
    with gm:
        y = m(mge.tensor(1.0) * 3) * 2
        gm.backward(y)
    a, b = m.a.grad, m.b.grad
    m.a.grad = m.b.grad = None
    return fwd_only(a, b) + a + b


def test_forward_and_backward_equal_megengine_on_every_call() -> None:
    # MegEngine 1.13's test_partial_trace_fwd_bwd; its oracle prints -72526.68
    m = _Simple()
    gm = GradManager().attach(m.parameters())

    @partial_trace
    def fwd_only(a, b):
        return a * b + a / b

    first = _step(m, gm, fwd_only).numpy()
    np.testing.assert_allclose(first, [-72526.68], rtol=1e-6)
    for _ in range(3):
        np.testing.assert_array_equal(_step(m, gm, fwd_only).numpy(), first)


def test_gradients_equal_eager() -> None:
    x = mge.tensor([0.5, -1.0, 2.0])
    w = Parameter([1.5, 2.0, -0.5])

    def body(x, w):
        return F.sum(F.tanh(x * w) ** 2)

    traced = partial_trace(body)
    grads = []
    for fn in (body, traced, traced, traced):
        gm = GradManager().attach([w])
        with gm:
            gm.backward(fn(x, w))
        grads.append(w.grad.numpy())
        w.grad = None
    for g in grads[1:]:
        np.testing.assert_allclose(g, grads[0], rtol=1e-6)


def test_a_changed_piece_raises_trace_error() -> None:
    mode = {"add": True}

    @partial_trace
    def f(a, b):
        return a + b if mode["add"] else a - b

    a, b = mge.tensor([1.0]), mge.tensor([2.0])
    f(a, b)
    f(a, b)
    mode["add"] = False
    with pytest.raises(TraceError, match="operator mismatch"):
        f(a, b)


def test_a_captured_tensor_needs_capture_as_const() -> None:
    const = mge.tensor([8.0])

    def body(a, b):
        return a * b + const

    a, b = mge.tensor([1.0]), mge.tensor([2.0])
    with pytest.raises(RuntimeError, match="unknown input tensors"):
        partial_trace(body)(a, b)
    f = partial_trace(body, capture_as_const=True)
    for _ in range(2):
        np.testing.assert_array_equal(f(a, b).numpy(), [10.0])


def test_module_parameters_are_inputs_and_may_change() -> None:
    m = _Simple()
    x = mge.tensor([1.0, 2.0])
    np.testing.assert_allclose(m(x).numpy(), np.exp(np.array([1.5, 3.0])), rtol=1e-6)
    m.a._reset(mge.tensor([2.0]))
    np.testing.assert_allclose(m(x).numpy(), np.exp(np.array([2.5, 5.0])), rtol=1e-6)


def test_options_megengine_refuses() -> None:
    with pytest.raises(AssertionError, match="without_host"):
        partial_trace(lambda x: x, without_host=False)
    with pytest.raises(AssertionError, match="unknown backend"):
        partial_trace(lambda x: x, backend="tvm")
    with pytest.raises(NotImplementedError, match="xla"):
        partial_trace(lambda x: x, backend="xla")
