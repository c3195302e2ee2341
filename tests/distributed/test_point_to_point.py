"""remote_send/remote_recv between two ranks (values and gradients), and a batch of sends
and receives around a ring of 3 processes between group_start and group_end, in
MegEngine's order (a receive that only batching lets complete)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import mge  # noqa: E402
import mge.distributed as dist  # noqa: E402
import mge.distributed.functional as DF  # noqa: E402
import mge.functional as F  # noqa: E402
from mge.autodiff import GradManager  # noqa: E402


def test_send_and_receive() -> None:
    @dist.launcher(n_gpus=2)
    def worker() -> np.ndarray | None:
        if dist.get_rank() == 0:
            DF.remote_send(mge.tensor(np.arange(6, dtype=np.int32).reshape(2, 3)), 1)
            return None
        return DF.remote_recv(0).numpy()

    got = worker()[1]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.arange(6).reshape(2, 3))


def test_batched_ring() -> None:
    @dist.launcher(n_gpus=3)
    def worker() -> list[np.ndarray]:
        rank, nxt, prev = dist.get_rank(), (dist.get_rank() + 1) % 3, (dist.get_rank() - 1) % 3
        dist.group_start()
        mine = mge.tensor(np.full(5, rank, np.float32))
        # the receive from the next rank matches that rank's *second* send: unbatched, every
        # rank would wait in its first receive before making the sends the others wait for
        DF._remote_send_nobackward(mine * 10, nxt)
        from_next = DF._remote_recv_nobackward(src_rank=nxt, dtype="float32", shape=(5,))
        DF._remote_send_nobackward(mine, prev)
        from_prev = DF._remote_recv_nobackward(src_rank=prev, dtype="float32", shape=(5,))
        dist.group_end()
        return [from_next.numpy(), from_prev.numpy()]

    for rank, (from_next, from_prev) in enumerate(worker()):
        np.testing.assert_array_equal(from_next, np.full(5, (rank + 1) % 3, np.float32))
        np.testing.assert_array_equal(from_prev, np.full(5, 10 * ((rank - 1) % 3), np.float32))


def test_gradient_flows_back_through_send_and_receive() -> None:
    """A two-stage pipeline (rank 0: x @ a, rank 1: relu(.) @ b, loss on rank 1) gives the
    gradients of the same computation in one process; rank 0 calls ``gm.backward()``."""
    rng = np.random.default_rng(3)
    x, a, b = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (3, 4), (4, 1)))

    @dist.launcher(n_gpus=2)
    def worker() -> np.ndarray:
        gm = GradManager()
        if dist.get_rank() == 0:
            p = mge.Parameter(a)
            with gm.attach(p):
                DF.remote_send(mge.tensor(x) @ p, 1)
                gm.backward()
        else:
            p = mge.Parameter(b)
            with gm.attach(p):
                h = DF.remote_recv(0)
                gm.backward((F.relu(h) @ p).sum())
        return p.grad.numpy()

    grad_a, grad_b = worker()
    pa, pb = mge.Parameter(a), mge.Parameter(b)
    with GradManager().attach([pa, pb]) as gm:
        gm.backward((F.relu(mge.tensor(x) @ pa) @ pb).sum())
    np.testing.assert_allclose(grad_a, pa.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_b, pb.grad.numpy(), rtol=1e-5, atol=1e-6)
