"""Process groups (MegEngine's ``megengine.distributed.group``).

Before :func:`init_process_group` the process is a world of one: ``get_rank()`` is 0,
``get_world_size()`` is 1, ``is_distributed()`` is False and the collectives of
:mod:`mge.distributed.functional` return their single-process results. With more than one
process the collectives run on torch.distributed's gloo backend (CPU); MegEngine's GPU
backend names (``nccl``, ``rccl``, ``auto``) are accepted and mean gloo here.

Example:
    >>> import mge.distributed as dist
    >>> dist.get_rank(), dist.get_world_size(), dist.is_distributed()
    (0, 1, False)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..device import set_default_device
from ..random import seed
from . import _comm
from .server import Client


@dataclass
class StaticData:
    """What :func:`init_process_group` learned about this process."""

    client: Client
    master_ip: str
    py_server_port: int
    mm_server_port: int
    world_size: int
    proc_rank: int
    device: int
    backend: str
    device_type: str
    machine_ranks: list[int] | None = None


_sd: StaticData | None = None


def _require_init() -> StaticData:
    if _sd is None:
        raise AssertionError("please call init_process_group first")
    return _sd


class Group:
    """Ranks that run collectives together; the first of ``proc_ranks`` is the root.

    ``WORLD`` (all processes) is the default group of every collective.

    Example:
        >>> import mge.distributed as dist
        >>> dist.WORLD.size  # a world of one before init_process_group
        1
    """

    def __init__(self, proc_ranks: list[int]) -> None:
        self.proc_ranks: list[int] | None = None
        self.stream: int | None = None
        if len(proc_ranks):
            self.reset(proc_ranks)

    def reset(self, proc_ranks: list[int]) -> None:
        """Make this group the ranks ``proc_ranks`` (checked against the world)."""
        self.check(proc_ranks)
        self.proc_ranks = list(proc_ranks)
        self.is_single_machine_cache: bool | None = None
        self.stream = len(_streams) + 1
        _streams.append(self.key)

    def check(self, proc_ranks: list[int]) -> None:
        """Assert ``proc_ranks`` are distinct ranks of the world, this process among them."""
        sd = _require_init()
        for rank in proc_ranks:
            if not isinstance(rank, int) or not 0 <= rank < sd.world_size:
                raise AssertionError(f"Group: rank {rank!r} is not in [0, {sd.world_size})")
        if len(set(proc_ranks)) != len(proc_ranks):
            raise AssertionError(f"Group: repeated ranks in {proc_ranks}")
        if sd.proc_rank not in proc_ranks:
            raise AssertionError(f"Group: this process (rank {sd.proc_rank}) is not in "
                                 f"{proc_ranks}")

    @property
    def ranks(self) -> list[int]:
        """The global ranks, root first (``[0]`` in a world of one)."""
        if self.proc_ranks is None:
            if self is WORLD and _sd is None:
                return [0]
            raise AssertionError("invalid group")
        return self.proc_ranks

    @property
    def size(self) -> int:
        return len(self.ranks)

    @property
    def key(self) -> str:
        return ",".join(map(str, self.ranks))

    @property
    def rank(self) -> int:
        """This process's position in the group (0: the root)."""
        return self.ranks.index(get_rank())

    @property
    def comp_node(self) -> str:
        sd = _require_init()
        return f"{_physical(sd.device_type)}{sd.device}:{self.stream}"

    @property
    def is_single_machine(self) -> bool:
        sd = _require_init()
        return sd.machine_ranks is not None and all(r in sd.machine_ranks for r in self.ranks)

    def __repr__(self) -> str:
        return f"Group({self.proc_ranks if self.proc_ranks is not None else []})"


_streams: list[str] = []


def _physical(device_type: str) -> str:
    """The device kind a distributed process computes on: mge's collectives are on CPU."""
    return "cpu" if device_type in ("xpu", "cpu", "gpu", "cuda", "rocm") else device_type
WORLD = Group([])

_backends = {"nccl", "rccl", "auto", "gloo"}


def init_process_group(master_ip: str, port: int, world_size: int, rank: int, device: int,
                       backend: str | None = "auto", device_type: str = "xpu") -> None:
    """Join the ``world_size`` processes whose :class:`~mge.distributed.Server` listens at
    ``master_ip:port``, as ``rank``; collectives then use torch.distributed's gloo.

    Args:
        master_ip: the master's address.
        port: the server's port.
        world_size: number of processes.
        rank: this process's rank, in ``[0, world_size)``.
        device: the device index of this process (kept; mge computes on the CPU).
        backend: MegEngine's ``nccl``/``rccl``/``auto``, or ``gloo``; all run gloo.
        device_type: kept for MegEngine's signature.

    Example:
        >>> import mge.distributed as dist
        >>> dist.init_process_group("localhost", 1, "2", 0, 0)
        Traceback (most recent call last):
        ...
        TypeError: Expect type int but got <class 'str'>
    """
    for value, kind in ((master_ip, str), (port, int), (world_size, int), (rank, int),
                        (device, int)):
        if not isinstance(value, kind):
            raise TypeError(f"Expect type {kind.__name__} but got {type(value)}")
    if backend not in _backends:
        raise ValueError(f"backend should be one of {_backends} but got {backend}")
    global _sd
    if _sd is not None:
        raise AssertionError("init_process_group should be called only once")
    if world_size < 1 or not 0 <= rank < world_size or port <= 0:
        raise AssertionError(f"init_process_group: bad world_size={world_size}, rank={rank} "
                             f"or port={port}")
    client = Client(master_ip, port)
    _comm.init(client.store, world_size, rank)
    _sd = StaticData(client, master_ip, port, client.get_mm_server_port(), world_size, rank,
                     device, backend, device_type)
    WORLD.reset(list(range(world_size)))
    set_default_device(f"{_physical(device_type)}{device}")
    seed(int(time.time()) + rank)


def _set_machine_ranks(ranks: list[int]) -> None:
    _require_init().machine_ranks = ranks


def _shutdown() -> None:
    """Leave the process group (a launcher's worker does this before it exits)."""
    global _sd
    _comm.shutdown()
    _sd = None
    WORLD.proc_ranks = None


@contextmanager
def override_backend(new_backend: str) -> Iterator[None]:
    """Use ``new_backend`` inside the block (the collectives still run gloo)."""
    sd = _require_init()
    old, sd.backend = sd.backend, new_backend
    try:
        yield
    finally:
        sd.backend = old


def is_distributed() -> bool:
    """True once :func:`init_process_group` ran in this process."""
    return _sd is not None


def get_rank() -> int:
    """This process's rank (0 when not distributed)."""
    return _sd.proc_rank if _sd is not None else 0


def get_world_size() -> int:
    """The number of processes (1 when not distributed)."""
    return _sd.world_size if _sd is not None else 1


def get_backend() -> str:
    """The backend name given to :func:`init_process_group`."""
    return _require_init().backend


def get_py_server_addr() -> tuple[str, int]:
    """``(master_ip, port)`` of the rendezvous server."""
    sd = _require_init()
    return sd.master_ip, sd.py_server_port


def get_mm_server_addr() -> tuple[str, int]:
    """``(master_ip, port)`` collectives rendezvous on (the same server in mge)."""
    sd = _require_init()
    return sd.master_ip, sd.mm_server_port


def get_client() -> Client:
    """This process's :class:`~mge.distributed.Client`."""
    return _require_init().client


def new_group(proc_ranks: list[int]) -> Group:
    """A group of some ranks (called by those ranks); the first one is its root."""
    return Group(proc_ranks)


def group_barrier(group: Group = WORLD) -> None:
    """Block until every rank of ``group`` reaches this barrier (nothing when not
    distributed)."""
    if _sd is None:
        return
    if not isinstance(group, Group):
        raise TypeError(f"group_barrier: expected a Group, got {type(group).__name__}")
    _sd.client.group_barrier(group.key, group.size)


__all__ = ["WORLD", "Group", "StaticData", "get_backend", "get_client", "get_mm_server_addr",
           "get_py_server_addr", "get_rank", "get_world_size", "group_barrier",
           "init_process_group", "is_distributed", "new_group", "override_backend"]
