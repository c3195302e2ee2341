"""Data parallelism: 2 processes, each training on half of every batch with
``make_allreduce_cb("mean")`` and SyncBatchNorm, end with the parameters and running
statistics of one process training on the whole batches (within 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import mge  # noqa: E402
import mge.distributed as dist  # noqa: E402
import mge.functional as F  # noqa: E402
import mge.module as M  # noqa: E402
import mge.optimizer as optim  # noqa: E402
from mge.autodiff import GradManager  # noqa: E402
from mge.data import RandomSampler, SequentialSampler  # noqa: E402

STEPS, BATCH = 4, 8


class _Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(1, 4, 3, padding=1)
        self.bn = M.SyncBatchNorm(4)
        self.fc = M.Linear(4 * 4 * 4, 10)
        self.bn1d = M.SyncBatchNorm(10)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.bn1d(self.fc(F.flatten(x, 1)))


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((STEPS, BATCH, 1, 8, 8)).astype(np.float32),
            rng.integers(0, 10, (STEPS, BATCH)).astype(np.int32))


def _train(rank: int, world: int) -> dict[str, np.ndarray]:
    mge.random.seed(1234 + rank)  # different initial weights until bcast_list_
    net = _Net()
    if world > 1:
        dist.bcast_list_(list(net.parameters()) + list(net.buffers()))
    cb = [dist.make_allreduce_cb("mean")] if world > 1 else None
    gm = GradManager().attach(net.parameters(), callbacks=cb)
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    xs, ys = _data()
    share = BATCH // world
    for x, y in zip(xs, ys):
        part = slice(rank * share, (rank + 1) * share)
        with gm:
            loss = F.nn.cross_entropy(net(mge.tensor(x[part])), mge.tensor(y[part]))
            gm.backward(loss)
        opt.step().clear_grad()
    return {k: v.copy() for k, v in net.state_dict().items()}


@dist.launcher(n_gpus=2)
def _parallel() -> dict[str, np.ndarray]:
    return _train(dist.get_rank(), dist.get_world_size())


def test_two_processes_train_like_one_on_the_whole_batch() -> None:
    single = _train(0, 1)
    ranks = _parallel()
    for key, want in single.items():
        for rank, got in enumerate(ranks):
            np.testing.assert_allclose(got[key], want, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{key}, rank {rank}")
    # the training moved the weights, and the ranks agree bit for bit
    assert not np.allclose(single["fc.weight"], _Net().fc.weight.numpy())
    for key in single:
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)


def test_samplers_split_the_data_between_ranks() -> None:
    @dist.launcher(n_gpus=2)
    def worker() -> tuple[list, list]:
        seq = [i for batch in SequentialSampler(list(range(10)), batch_size=1) for i in batch]
        rnd = [i for batch in RandomSampler(list(range(10)), batch_size=1) for i in batch]
        return seq, rnd

    (seq0, rnd0), (seq1, rnd1) = worker()
    assert seq0 == [0, 2, 4, 6, 8] and seq1 == [1, 3, 5, 7, 9]
    assert sorted(rnd0 + rnd1) == list(range(10))  # the same shuffle, split
