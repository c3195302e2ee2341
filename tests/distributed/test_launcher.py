"""The launcher's process handling: results in rank order, a failing rank named in the
error with its exception, no process left behind, the rendezvous client's key-value and
barrier calls across processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

import mge.distributed as dist  # noqa: E402


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too: only a running process counts
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_results_client_and_barrier() -> None:
    @dist.launcher(n_gpus=2)
    def worker(base: int) -> tuple:
        client = dist.get_client()
        client.user_set(f"r{dist.get_rank()}", base + dist.get_rank())
        dist.group_barrier()
        seen = [client.user_get(f"r{r}") for r in range(2)]
        root_val = client.bcast_val("v" if dist.get_rank() == 0 else None, "k", 2)
        if dist.get_rank() == 1:
            assert client.user_pop("r0") == base
        return dist.get_rank(), dist.get_world_size(), dist.get_backend(), seen, root_val, \
            dist.WORLD.comp_node, os.getpid()

    results = worker(10)
    assert [r[:5] for r in results] == [(0, 2, "nccl", [10, 11], "v"),
                                        (1, 2, "nccl", [10, 11], "v")]
    assert [r[5] for r in results] == ["cpu0:1", "cpu1:1"]
    assert not any(_alive(r[6]) for r in results)
    assert not mp.active_children()


def test_a_failing_rank_is_named_and_the_others_are_stopped(tmp_path) -> None:
    @dist.launcher(n_gpus=2)
    def worker() -> None:
        (tmp_path / f"pid{dist.get_rank()}").write_text(str(os.getpid()))
        if dist.get_rank() == 1:
            raise ValueError("bad shard 7")
        time.sleep(60)  # rank 0 would wait for rank 1 forever

    start = time.monotonic()
    with pytest.raises(AssertionError, match=r"rank 1 failed: ValueError: bad shard 7"):
        worker()
    assert time.monotonic() - start < 30
    pids = [int((tmp_path / f"pid{r}").read_text()) for r in range(2)]
    assert not any(_alive(p) for p in pids)
    assert not mp.active_children()


def test_a_dying_rank_is_named() -> None:
    @dist.launcher(n_gpus=2)
    def worker() -> None:
        if dist.get_rank() == 0:
            os._exit(3)
        dist.group_barrier()  # never completes: rank 0 is gone

    with pytest.raises(AssertionError, match="subprocess 0 exit with code 3"):
        worker()
    assert not mp.active_children()


def test_early_exit_returns_none(caplog: pytest.LogCaptureFixture) -> None:
    @dist.launcher(n_gpus=2)
    def worker() -> int:
        if dist.get_rank() == 1:
            raise SystemExit(0)
        return 5

    assert worker() == [5, None]


SCRIPT = """
import numpy as np, torch, mge, mge.functional as F, mge.distributed as dist
mge.set_default_backend("torch")
torch.set_num_threads(2)
x = mge.tensor(np.ones((4, 8, 32, 32), "float32"))
w = mge.tensor(np.ones((8, 8, 3, 3), "float32"))
F.conv2d(x, w).numpy()  # the parent's OpenMP pool is in use before the fork
print(dist.launcher(lambda: float(F.conv2d(x, w).numpy().sum()), n_gpus=2)())
"""


@pytest.mark.slow  # a fresh interpreter importing torch: ~15 s on a loaded machine
def test_workers_forked_after_threaded_torch_work_do_not_hang() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                         env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[2073600.0, 2073600.0]"
