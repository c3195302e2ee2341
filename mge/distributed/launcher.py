"""``launcher``: run a function in ``n_gpus`` processes on this machine (MegEngine's
``megengine.distributed.launcher``), each a rank of one process group.

The master (``rank_start == 0``) starts a :class:`~mge.distributed.Server`; each process
joins the group (torch.distributed's gloo, CPU) and runs the function; the call returns
the ranks' return values in rank order. When a process raises or dies the others are
stopped and the call raises an ``AssertionError`` (MegEngine's type) naming the rank and,
for an exception, its traceback. Processes start with ``fork`` (the function need not be
picklable, as in MegEngine); ``MGE_DIST_START_METHOD`` picks another start method. Each
process computes with ``MGE_DIST_NUM_THREADS`` intra-op threads (default 1).

Example:
    >>> import pytest; _ = pytest.importorskip("torch")
    >>> import mge.distributed as dist
    >>> @dist.launcher(n_gpus=2)
    ... def worker():
    ...     return dist.get_rank()
    >>> worker()  # doctest: +SKIP
    [0, 1]
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from ..device import get_device_count
from ..logger import get_logger
from . import group as _group
from .server import Server

WARN_SUBPROCESS_EXIT_WITHOUT_RETURN = "subprocess exited with code 0 but did not return a value"


class WorkerError(AssertionError):
    """A launched process failed (an ``AssertionError``, as MegEngine raises)."""


def _run_wrapped(func: Callable, is_multimachine: bool, master_ip: str, port: int,
                 world_size: int, rank: int, dev: int, device_type: str, args: tuple,
                 kwargs: dict, backend: str, queue: Any, machine_ranks: list[int]) -> None:
    """A worker: join the group, run ``func``, report its result (or its error)."""
    _one_thread_per_process()
    try:
        if world_size > 1:
            _group.init_process_group(master_ip, port, world_size, rank, dev, backend,
                                      device_type)
            _group._set_machine_ranks(machine_ranks)
            # every rank connected before any runs: one that finishes (or exits) at once
            # would otherwise close its side while a slower rank still builds the mesh
            _group.group_barrier()
        ret = func(*args, **kwargs)
        queue.put(("ok", dev, ret))
        if is_multimachine:
            _group.group_barrier()
    except BaseException as exc:  # noqa: BLE001 - reported to the launcher, then exit 1
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            _leave()
            raise
        queue.put(("error", dev, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        _leave()
        sys.stderr.flush()
        os._exit(1)
    _leave()


def _one_thread_per_process() -> None:
    """Intra-op threads of a worker: ``MGE_DIST_NUM_THREADS`` (default 1, as torchrun's
    OMP_NUM_THREADS). The processes share the cores, and a forked child must not enter
    the OpenMP thread pool its parent used (GNU OpenMP hangs there)."""
    threads = int(os.environ.get("MGE_DIST_NUM_THREADS", "1"))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def _leave() -> None:
    try:
        _group._shutdown()
    except Exception:  # noqa: BLE001 - leaving after a failure: nothing more to report
        pass


class launcher:  # noqa: N801 - MegEngine's name
    """Decorator: calling the function runs it in ``n_gpus`` processes and returns their
    results.

    Args:
        func: the function each process runs.
        n_gpus: processes on this machine (default: ``get_device_count(device_type)``).
        world_size: processes in all (default ``n_gpus``).
        rank_start: the first rank on this machine.
        master_ip: the master's address.
        port: the server port (0: the master picks one).
        device_type: kept for MegEngine's signature (mge computes on the CPU).
        backend: MegEngine's backend name (``nccl`` by default); gloo runs it.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if not args:
            return functools.partial(cls, **kwargs)
        return super().__new__(cls)

    def __init__(self, func: Callable, n_gpus: int | None = None, world_size: int | None = None,
                 rank_start: int = 0, master_ip: str = "localhost", port: int = 0,
                 device_type: str = "xpu", backend: str = "nccl") -> None:
        self.func = func
        self.n_gpus = n_gpus if n_gpus is not None else get_device_count(device_type)
        self.world_size = world_size if world_size is not None else self.n_gpus
        self.rank_start = rank_start
        self.master_ip = master_ip
        self.port = port
        self.device_type = device_type
        self.backend = backend
        self.server: Server | None = None
        if self.world_size > 1 and self.rank_start == 0:
            self.server = Server(self.port)
            self.port = self.server.py_server_port
        elif self.world_size > 1 and self.port == 0:
            raise AssertionError("you have to assign a port for distributed server")
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> list[Any]:
        ctx = mp.get_context(os.environ.get("MGE_DIST_START_METHOD", "fork"))
        queue = ctx.Queue()
        machine_ranks = [i + self.rank_start for i in range(self.n_gpus)]
        procs = []
        try:
            for dev in range(self.n_gpus):
                p = ctx.Process(target=_run_wrapped, args=(
                    self.func, self.world_size > self.n_gpus, self.master_ip, self.port,
                    self.world_size, dev + self.rank_start, dev, self.device_type, args,
                    kwargs, self.backend, queue, machine_ranks))
                p.start()
                procs.append(p)
            return self._collect(procs, queue)
        finally:
            _stop(procs)

    def _collect(self, procs: list[Any], queue: Any) -> list[Any]:
        results: list[Any] = [None] * self.n_gpus
        returned = 0
        running = set(range(self.n_gpus))
        while running:
            returned += _drain(queue, results, self.rank_start)
            for dev in sorted(running):
                code = procs[dev].exitcode
                if code is None:
                    continue
                running.discard(dev)
                if code != 0:
                    time.sleep(0.2)  # its error report may still be in the pipe
                    returned += _drain(queue, results, self.rank_start)
                    raise WorkerError(f"subprocess {dev + self.rank_start} exit with code "
                                      f"{code}{_signal_name(code)}")
            time.sleep(0.01)
        returned += _drain(queue, results, self.rank_start)
        if returned < self.n_gpus:
            get_logger().warning(WARN_SUBPROCESS_EXIT_WITHOUT_RETURN)
        return results


def _drain(queue: Any, results: list[Any], rank_start: int) -> int:
    """Move the reports in ``queue`` into ``results``; raise on a worker's error."""
    got = 0
    while True:
        try:
            status, dev, value = queue.get_nowait()
        except queue_mod.Empty:
            return got
        if status == "error":
            raise WorkerError(f"distributed worker rank {dev + rank_start} failed: {value}")
        results[dev] = value
        got += 1


def _signal_name(code: int) -> str:
    if code < 0:
        try:
            return f" (killed by {signal.Signals(-code).name})"
        except ValueError:
            return ""
    return ""


def _stop(procs: list[Any]) -> None:
    """End the processes still running (terminate, then kill), and reap them all."""
    for p in procs:
        if p.exitcode is None:
            p.terminate()
    deadline = time.monotonic() + 5.0
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.exitcode is None:
            p.kill()
            p.join()


__all__ = ["WARN_SUBPROCESS_EXIT_WITHOUT_RETURN", "WorkerError", "launcher"]
