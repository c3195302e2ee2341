"""The Sync observers of mge.quantization see every process's batch: in 2 processes they
end with the min/max (and moving averages) of the whole batches."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import mge  # noqa: E402
import mge.distributed as dist  # noqa: E402
from mge.quantization.observer import (  # noqa: E402
    SyncExponentialMovingAverageObserver,
    SyncMinMaxObserver,
)

RNG = np.random.default_rng(5)
X1, X2 = (RNG.standard_normal((6, 3, 2, 2)).astype(np.float32) for _ in range(2))
T = 0.7


def test_sync_observers_reduce_over_processes() -> None:
    @dist.launcher(n_gpus=2)
    def worker() -> list[float]:
        part = slice(dist.get_rank() * 3, dist.get_rank() * 3 + 3)
        mm, ema = SyncMinMaxObserver(), SyncExponentialMovingAverageObserver(momentum=T)
        for x in (X1, X2):
            mm(mge.tensor(x[part]))
            ema(mge.tensor(x[part]))
        return [float(v.numpy()) for v in (mm.min_val, mm.max_val, ema.min_val, ema.max_val)]

    want = [min(X1.min(), X2.min()), max(X1.max(), X2.max()),
            X1.min() * T + X2.min() * (1 - T), X1.max() * T + X2.max() * (1 - T)]
    for got in worker():
        np.testing.assert_allclose(got, want, rtol=1e-6)
