"""mge.optimizer against torch.optim (same gradients, same hyper-parameters), state_dict
round trips, schedulers and clipping."""

from __future__ import annotations

import numpy as np
import pytest

import mge
from mge import optimizer as optim

RNG = np.random.default_rng(0)
W0 = RNG.standard_normal((3, 4)).astype(np.float32)
GRADS = [RNG.standard_normal((3, 4)).astype(np.float32) for _ in range(5)]

#: (mge factory, torch factory name, torch kwargs) with the same update rule
PAIRS = [
    (lambda p: optim.SGD(p, lr=0.1), "SGD", {"lr": 0.1}),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01), "SGD",
     {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), "SGD",
     {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1), "Adam",
     {"lr": 0.01, "weight_decay": 0.1}),
    (lambda p: optim.AdamW(p, lr=0.01), "AdamW", {"lr": 0.01, "weight_decay": 0.01}),
    (lambda p: optim.Adagrad(p, lr=0.1, lr_decay=0.01), "Adagrad",
     {"lr": 0.1, "lr_decay": 0.01, "eps": 1e-10}),
    (lambda p: optim.Adadelta(p, lr=1.0, rho=0.9), "Adadelta", {"lr": 1.0, "rho": 0.9}),
]


def _run_mge(factory) -> np.ndarray:
    w = mge.Parameter(W0)
    opt = factory([w])
    for g in GRADS:
        w.grad = mge.tensor(g)
        opt.step()
    return w.numpy()


@pytest.mark.parametrize("factory,name,kwargs", PAIRS, ids=[f"{p[1]}-{k}" for k, p in
                                                              enumerate(PAIRS)])
def test_matches_torch_optim(factory, name, kwargs) -> None:
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.from_numpy(W0.copy()))
    opt = getattr(torch.optim, name)([w], **kwargs)
    for g in GRADS:
        w.grad = torch.from_numpy(g.copy())
        opt.step()
    np.testing.assert_allclose(_run_mge(factory), w.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_adamw_decouples_weight_decay_differently_from_adam() -> None:
    adam = _run_mge(lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1))
    adamw = _run_mge(lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1))
    assert not np.allclose(adam, adamw)


def test_lamb_trust_ratio() -> None:
    w = mge.Parameter([3.0, 4.0])
    w.grad = mge.tensor([1.0, 1.0])
    optim.LAMB([w], lr=0.1, weight_decay=0.1).step()
    delta = np.array([1.0, 1.0]) + 0.1 * np.array([3.0, 4.0])
    want = np.array([3.0, 4.0]) - 0.1 * 5.0 / np.linalg.norm(delta) * delta
    np.testing.assert_allclose(w.numpy(), want, rtol=1e-5)


def test_state_dict_round_trip_continues_identically() -> None:
    def make():
        w = mge.Parameter(W0)
        return w, optim.Adam([w], lr=0.01)

    w1, opt1 = make()
    for g in GRADS[:3]:
        w1.grad = mge.tensor(g)
        opt1.step()
    state = mge.load(_saved(opt1.state_dict()))
    w2, opt2 = make()
    w2.set_value(w1.numpy())
    opt2.load_state_dict(state)
    for w, opt in ((w1, opt1), (w2, opt2)):
        for g in GRADS[3:]:
            w.grad = mge.tensor(g)
            opt.step()
    np.testing.assert_array_equal(w1.numpy(), w2.numpy())
    assert sorted(state["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]


def _saved(obj):
    import io

    buf = io.BytesIO()
    mge.save(obj, buf)
    buf.seek(0)
    return buf


def test_param_groups_and_errors() -> None:
    a, b = mge.Parameter([1.0]), mge.Parameter([1.0])
    opt = optim.SGD([{"params": a}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = mge.tensor([1.0]), mge.tensor([1.0])
    opt.step().clear_grad()
    np.testing.assert_allclose([a.item(), b.item()], [0.9, 0.5])
    assert a.grad is None
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="only optimize Parameters"):
        optim.SGD([mge.tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="Invalid beta"):
        optim.Adam([a], lr=0.1, betas=(1.0, 0.9))


def test_multistep_lr() -> None:
    opt = optim.SGD([mge.Parameter([1.0])], lr=1.0)
    sched = optim.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    np.testing.assert_allclose(lrs, [1.0, 1.0, 0.1, 0.1, 0.01])
    state = sched.state_dict()
    assert state == {"milestones": [2, 4], "gamma": 0.1, "current_epoch": 5}
    with pytest.raises(ValueError, match="increasing"):
        optim.MultiStepLR(opt, milestones=[3, 1])


def test_clip_grad() -> None:
    a, b = mge.Parameter([0.0]), mge.Parameter([0.0, 0.0])
    a.grad, b.grad = mge.tensor([3.0]), mge.tensor([0.0, 4.0])
    total = optim.clip_grad_norm([a, b], max_norm=1.0)
    assert float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad.numpy(), b.grad.numpy()]),
                               [0.6, 0.0, 0.8], rtol=1e-5)
    optim.clip_grad_value([a, b], lower=-0.1, upper=0.7)
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 0.7])
