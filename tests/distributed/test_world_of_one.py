"""mge.distributed in one process (no torch needed): MegEngine's world of one.

The collectives give their one-process results, the all-reduce callback averages over one
process, SyncBatchNorm is BatchNorm; without torch, more than one process fails with an
ImportError naming torch.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import mge
import mge.distributed as dist
import mge.distributed.functional as DF
import mge.module as M
from mge.autodiff import GradManager
from mge.distributed import _comm
from mge.distributed.helper import get_offsets, param_pack_concat, param_pack_split

X = np.arange(12, dtype=np.float32).reshape(2, 6)


def test_not_distributed() -> None:
    assert (dist.get_rank(), dist.get_world_size(), dist.is_distributed()) == (0, 1, False)
    assert dist.WORLD.size == 1 and dist.WORLD.rank == 0
    dist.group_barrier()  # nothing to wait for
    with pytest.raises(AssertionError, match="init_process_group first"):
        dist.get_client()


@pytest.mark.parametrize("name", ["all_reduce_sum", "all_reduce_max", "all_reduce_min",
                                  "all_gather", "reduce_scatter_sum", "broadcast", "scatter",
                                  "reduce_sum", "gather", "all_to_all"])
def test_collectives_of_one_process(name: str) -> None:
    x = mge.tensor(X)
    np.testing.assert_array_equal(getattr(DF, name)(x).numpy(), X)


def test_axis_arguments_of_one_process() -> None:
    x = mge.tensor(X)
    np.testing.assert_array_equal(DF.all_gather(x, axis=1).numpy(), X)
    np.testing.assert_array_equal(DF.reduce_scatter_sum(x, axis=1).numpy(), X)
    np.testing.assert_array_equal(DF.all_to_all(x, split_axis=1, concat_axis=1).numpy(), X)


def test_gradients_of_one_process() -> None:
    x = mge.Parameter(X)
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(2, 6)
    for fn in (DF.all_reduce_sum, DF.all_reduce_max, DF.all_gather, DF.reduce_scatter_sum,
               DF.broadcast, DF.scatter, DF.all_to_all, DF.reduce_sum, DF.gather):
        x.grad = None
        with GradManager().attach(x) as gm:
            gm.backward((fn(x) * mge.tensor(w)).sum())
        np.testing.assert_allclose(x.grad.numpy(), w, err_msg=fn.__name__)


@pytest.mark.parametrize("threshold", [0, None], ids=["pack_each", "pack_all"])
@pytest.mark.parametrize("method", ["sum", "mean", "MEAN"])
def test_allreduce_callback_of_one_process(method: str, threshold: int | None) -> None:
    w = mge.Parameter(np.array([1.0, 2.0], np.float32))
    b = mge.Parameter(np.array([3.0], np.float16))
    cb = dist.make_allreduce_cb(method)
    if threshold is not None:
        cb._param_pack_thd = threshold
    gm = GradManager().attach([w, b], callbacks=[cb])
    with gm:
        gm.backward((w * w).sum() + (b * 2).sum())
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0])
    assert b.grad.dtype == b.dtype and b.grad.numpy().tolist() == [2.0]
    with pytest.raises(AssertionError, match="sum or mean"):
        dist.make_allreduce_cb("max")


def test_sync_batch_norm_is_batch_norm_in_one_process() -> None:
    rng = np.random.default_rng(0)
    x = mge.tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32))
    sync, plain = M.SyncBatchNorm(3), M.BatchNorm2d(3)
    np.testing.assert_allclose(sync(x).numpy(), plain(x).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sync.running_var.numpy(), plain.running_var.numpy(), rtol=1e-6)
    y = dist.sync_batch_norm(x, None, None, training=True, eps_mode="max")
    assert abs(float(y.numpy().mean())) < 1e-5


def test_param_pack() -> None:
    a, b = mge.tensor(np.ones((1,), np.int32)), mge.tensor(np.arange(9).reshape(3, 3))
    offsets = get_offsets([(1,), (3, 3)])
    assert offsets == [0, 1, 1, 10]
    packed = param_pack_concat([a, b], None, offsets)
    np.testing.assert_array_equal(packed.numpy(), np.r_[1, np.arange(9)])
    c, d = param_pack_split(packed, offsets, [(1,), (3, 3)])
    np.testing.assert_array_equal(d.numpy(), b.numpy())
    with pytest.raises(ValueError, match="do not match"):
        param_pack_concat([a, b], None, [0, 1, 1, 9])


def test_bcast_list_and_synchronized_of_one_process() -> None:
    p = mge.Parameter([1.0])
    dist.bcast_list_([p])
    assert p.numpy().tolist() == [1.0]
    assert dist.synchronized(lambda v: v + 1)(1) == 2


def test_launcher_of_one_process_needs_no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "torch.distributed", None)

    @dist.launcher(n_gpus=1)
    def worker(v: int) -> tuple[int, int, int]:
        return dist.get_rank(), dist.get_world_size(), v

    assert worker(7) == [(0, 1, 7)]


def test_more_processes_without_torch_name_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "torch.distributed", None)
    with pytest.raises(ImportError, match="needs PyTorch"):
        dist.launcher(lambda: None, n_gpus=2)
    with pytest.raises(ImportError, match="needs PyTorch"):
        dist.Server()
    assert not _comm.is_initialized()


def test_init_process_group_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="Expect type int"):
        dist.init_process_group("localhost", "1", 2, 0, 0)
    with pytest.raises(ValueError, match="backend should be one of"):
        dist.init_process_group("localhost", 1, 2, 0, 0, backend="mpi")
    assert not dist.is_distributed()
