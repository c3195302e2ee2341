"""``mge.distributed`` (MegEngine's ``megengine.distributed``): data parallelism over
processes, on torch.distributed's gloo backend (CPU).

``launcher`` runs a function in several processes; ``init_process_group`` joins a group by
hand (with a ``Server`` for the rendezvous); ``functional`` has the collectives (with
MegEngine's gradients); ``make_allreduce_cb`` averages gradients in ``GradManager``;
``bcast_list_`` copies the root's parameters. Without torch a process is a world of one:
``get_rank()`` is 0, ``get_world_size()`` 1, and the collectives and callbacks give their
one-process results; anything with more processes raises an ``ImportError`` naming torch.

Example:
    >>> import mge.distributed as dist
    >>> dist.is_distributed(), dist.get_world_size()
    (False, 1)
"""

from . import _comm, functional, group, helper
from .group import (
    WORLD,
    Group,
    get_backend,
    get_client,
    get_mm_server_addr,
    get_py_server_addr,
    get_rank,
    get_world_size,
    group_barrier,
    init_process_group,
    is_distributed,
    new_group,
    override_backend,
)
from .helper import bcast_list_, make_allreduce_cb, synchronized
from .launcher import launcher
from .server import Client, Server
from .sync_batch_norm import sync_batch_norm


def group_start() -> None:
    """Begin a batch of sends and receives (``_remote_recv_nobackward`` results are filled
    at :func:`group_end`), as MegEngine's group calls."""
    _comm.group_start()


def group_end() -> None:
    """Complete the batch begun by :func:`group_start`."""
    _comm.group_end()


__all__ = ["WORLD", "Client", "Group", "Server", "bcast_list_", "functional", "get_backend",
           "get_client", "get_mm_server_addr", "get_py_server_addr", "get_rank",
           "get_world_size", "group", "group_barrier", "group_end", "group_start", "helper",
           "init_process_group", "is_distributed", "launcher", "make_allreduce_cb",
           "new_group", "override_backend", "sync_batch_norm", "synchronized"]
