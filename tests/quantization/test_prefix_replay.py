"""``PrefixReplay``: rerunning a network from one module on, the modules before it replayed."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.module as M
from mge.quantization.prefix_replay import PrefixReplay


class _Residual(M.Module):
    """``b(a(x)) + a(x)``, then ``c``: a skip connection around ``b``."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        self.a, self.b, self.c = M.Linear(4, 4), M.Linear(4, 4), M.Linear(4, 3)
        for m in (self.a, self.b, self.c):
            m.weight[...] = mge.tensor(rng.normal(size=m.weight.shape).astype("float32"))

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = self.a(x)
        return self.c(mge.functional.relu(self.b(y)) + y)


def test_run_from_equals_a_full_run_after_a_later_change_and_skips_the_prefix() -> None:
    net = _Residual()
    batches = [np.random.default_rng(i).normal(size=(3, 4)).astype("float32") for i in range(2)]
    replay = PrefixReplay(net, batches)
    full = replay.record()
    assert replay.order == ["a", "b", "c"]
    np.testing.assert_allclose(full, np.concatenate([net(mge.tensor(b)).numpy() for b in batches]))
    net.b.bias[...] = mge.tensor(np.full(4, 0.5, "float32"))
    fresh = np.concatenate([net(mge.tensor(b)).numpy() for b in batches])
    assert not np.allclose(fresh, full)
    net.a.weight[...] = mge.tensor(np.zeros((4, 4), "float32"))  # a replays its old output
    np.testing.assert_allclose(replay.run_from("b"), fresh, rtol=1e-6)
    assert not np.allclose(replay.run_from(), fresh)  # all run: a's change shows

def test_kept_state_is_replayed_and_unknown_modules_refused() -> None:
    net = _Residual()
    x = [np.ones((2, 4), "float32")]
    replay = PrefixReplay(net, x)
    replay.record()
    net.b.bias[...] = mge.tensor(np.ones(4, "float32"))
    changed = replay.run_from("b", keep=True)
    np.testing.assert_allclose(replay.run_from("c"), changed)
    with pytest.raises(ValueError, match="'d'"):
        replay.run_from("d")
