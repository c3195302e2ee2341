"""Each collective of mge.distributed.functional against its definition, forward and
gradient, in 2 processes (torch.distributed's gloo) and in a group of ranks ``[1, 0]``
(root 1). Every rank differentiates ``sum(out * W_rank)`` (where reduce_sum and gather
return None, it calls ``gm.backward()`` as MegEngine's tests do); the expected gradients
follow MegEngine's CollectiveComm rules, computed here with numpy from all ranks' inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import mge  # noqa: E402
import mge.distributed as dist  # noqa: E402
import mge.distributed.functional as DF  # noqa: E402
from mge.autodiff import GradManager  # noqa: E402

N = 2


def _x(rank: int) -> np.ndarray:
    return np.random.default_rng(rank).standard_normal((4, 6)).astype(np.float32)


def _w(rank: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(100 + rank).standard_normal(shape).astype(np.float32)


CASES = {
    "all_reduce_sum": lambda x, g: DF.all_reduce_sum(x, g),
    "all_reduce_max": lambda x, g: DF.all_reduce_max(x, g),
    "all_reduce_min": lambda x, g: DF.all_reduce_min(x, g),
    "all_gather": lambda x, g: DF.all_gather(x, g),
    "all_gather_axis1": lambda x, g: DF.all_gather(x, g, axis=1),
    "reduce_scatter_sum": lambda x, g: DF.reduce_scatter_sum(x, g),
    "reduce_scatter_axis1": lambda x, g: DF.reduce_scatter_sum(x, g, axis=1),
    "broadcast": lambda x, g: DF.broadcast(x, g),
    "scatter": lambda x, g: DF.scatter(x, g),
    "scatter_axis1": lambda x, g: DF.scatter(x, g, axis=1),
    "all_to_all": lambda x, g: DF.all_to_all(x, g),
    "all_to_all_1_0": lambda x, g: DF.all_to_all(x, g, split_axis=1, concat_axis=0),
    "reduce_sum": lambda x, g: DF.reduce_sum(x, g),
    "gather": lambda x, g: DF.gather(x, g),
    "gather_axis1": lambda x, g: DF.gather(x, g, axis=1),
}


def _run_all(group_ranks: list[int] | None) -> dict[str, tuple]:
    group = dist.WORLD if group_ranks is None else dist.new_group(group_ranks)
    rank = dist.get_rank()
    results = {}
    for name, fn in CASES.items():
        x = mge.Parameter(_x(rank))
        with GradManager().attach(x) as gm:
            y = fn(x, group)
            if y is None:  # reduce_sum, gather off the root: MegEngine's gm.backward()
                gm.backward()
            else:
                gm.backward((y * mge.tensor(_w(rank, tuple(y.shape)))).sum())
        results[name] = (None if y is None else y.numpy(),
                         None if x.grad is None else x.grad.numpy())
    return results


@dist.launcher(n_gpus=N)
def _worker() -> tuple[dict, dict]:
    return _run_all(None), _run_all([1, 0])


@pytest.fixture(scope="module")
def ran() -> list[tuple[dict, dict]]:
    return _worker()


def _chunks(a: np.ndarray, axis: int) -> list[np.ndarray]:
    return np.split(a, N, axis=axis)


def _expected(name: str, order: list[int], me: int) -> tuple[np.ndarray | None, np.ndarray]:
    """``(out, grad of x)`` of rank ``me`` in the group ``order`` (root first)."""
    xs = {r: _x(r) for r in order}
    i = order.index(me)
    axis = 1 if name.endswith("axis1") or name == "all_to_all_1_0" else 0
    if name.startswith("all_reduce"):
        op = {"sum": np.sum, "max": np.max, "min": np.min}[name.split("_")[-1]]
        y = op([xs[r] for r in order], axis=0)
        gsum = sum(_w(r, y.shape) for r in order)
        grad = gsum if name.endswith("sum") else np.where(xs[me] == y, gsum, 0)
        return y, grad
    if name.startswith("all_gather"):
        y = np.concatenate([xs[r] for r in order], axis=axis)
        grad = _chunks(sum(_w(r, y.shape) for r in order), axis)[i]
        return y, grad
    if name.startswith("reduce_scatter"):
        y = _chunks(sum(xs[r] for r in order), axis)[i]
        return y, np.concatenate([_w(r, y.shape) for r in order], axis=axis)
    if name == "broadcast":
        y = xs[order[0]]
        return y, (sum(_w(r, y.shape) for r in order) if i == 0 else None)
    if name.startswith("scatter"):
        y = _chunks(xs[order[0]], axis)[i]
        grad = np.concatenate([_w(r, y.shape) for r in order], axis=axis) if i == 0 else None
        return y, grad
    if name.startswith("all_to_all"):
        y = np.concatenate([_chunks(xs[r], axis)[i] for r in order], axis=0)
        ws = {r: _w(r, y.shape) for r in order}
        grad = np.concatenate([np.split(ws[r], N, axis=0)[i] for r in order], axis=axis)
        return y, grad
    if name.startswith("gather"):
        full = np.concatenate([xs[r] for r in order], axis=axis)
        return (full if i == 0 else None), _chunks(_w(order[0], full.shape), axis)[i]
    if name == "reduce_sum":
        y = sum(xs[r] for r in order)
        return (y if i == 0 else None), _w(order[0], y.shape)
    raise AssertionError(name)


@pytest.mark.parametrize("order", [[0, 1], [1, 0]], ids=["world", "group_1_0"])
@pytest.mark.parametrize("name", list(CASES))
def test_collective(ran: list[tuple[dict, dict]], order: list[int], name: str) -> None:
    for me in range(N):
        got_y, got_grad = ran[me][0 if order == [0, 1] else 1][name]
        want_y, want_grad = _expected(name, order, me)
        if want_y is None:
            assert got_y is None, f"rank {me}"
        else:
            np.testing.assert_allclose(got_y, want_y, rtol=1e-6, atol=1e-6, err_msg=f"rank {me}")
        if want_grad is None:
            assert got_grad is None or not got_grad.any(), f"rank {me}"
        else:
            np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-6,
                                       err_msg=f"rank {me}")
