"""The collective library under ``mge.distributed``: torch.distributed with gloo, on CPU.

mge does not implement collectives itself. Every collective here works on numpy arrays
and goes through torch.distributed's gloo process groups: ``WORLD`` is torch's default
group, a :class:`~mge.distributed.group.Group` of some ranks gets its own gloo group
(created, once, by the ranks in it). Ranks in this module are global ranks; a group's
``proc_ranks`` order (its first rank is the root) is kept in every result.

Without torch, :func:`require_torch` raises an ``ImportError`` naming the missing
dependency; mge's world of one process needs none of this.

Example:
    >>> from mge.distributed import _comm
    >>> _comm.is_initialized()
    False
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_INSTALL_HINT = ("mge.distributed needs PyTorch (torch.distributed with the gloo backend) "
                 "for more than one process: pip install 'mge[torch]' or pip install torch")

#: seconds a collective or a rendezvous waits for the other processes (MGE_DIST_TIMEOUT)
DEFAULT_TIMEOUT_S = 300.0

_groups: dict[tuple[int, ...], Any] = {}


def require_torch() -> Any:
    """``torch.distributed`` (with gloo), or an ``ImportError`` naming what is missing."""
    try:
        import torch.distributed as td
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    if not td.is_available() or not td.is_gloo_available():
        raise ImportError(f"{_INSTALL_HINT} (this torch build has no gloo backend)")
    return td


def timeout_s() -> float:
    """How long collectives wait for the other processes: ``MGE_DIST_TIMEOUT`` seconds."""
    return float(os.environ.get("MGE_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))


def is_initialized() -> bool:
    """True when this process joined a torch.distributed process group."""
    try:
        import torch.distributed as td
    except ImportError:
        return False
    return td.is_available() and td.is_initialized()


def init(store: Any, world_size: int, rank: int) -> None:
    """Join the gloo process group of ``world_size`` processes rendezvousing at ``store``."""
    td = require_torch()
    td.init_process_group("gloo", store=td.PrefixStore("mge/gloo", store), rank=rank,
                          world_size=world_size,
                          timeout=datetime.timedelta(seconds=timeout_s()))


def shutdown() -> None:
    """Leave the process group (a worker does this before it exits)."""
    if is_initialized():
        wait_sends()
        require_torch().destroy_process_group()
    _groups.clear()


def _pg(ranks: Sequence[int] | None) -> Any:
    """The gloo group of ``ranks`` (None: the world), made the first time it is asked for."""
    td = require_torch()
    if ranks is None or len(ranks) == td.get_world_size():
        return None
    key = tuple(sorted(ranks))
    if key not in _groups:
        _groups[key] = td.new_group(list(key), backend="gloo", use_local_synchronization=True)
    return _groups[key]


def _to_torch(a: np.ndarray) -> Any:
    import torch

    # a C-ordered copy of the same shape (np.ascontiguousarray makes a 0-d array 1-d)
    return torch.from_numpy(np.array(a, np.uint8 if a.dtype == np.bool_ else a.dtype,
                                     order="C", copy=True))


def _from_torch(t: Any, dtype: np.dtype) -> np.ndarray:
    return t.numpy().astype(dtype, copy=False)


def _order(ranks: Sequence[int]) -> list[int]:
    """Positions, in torch's (sorted) order of the group, of ``ranks`` in their own order."""
    by_torch = sorted(ranks)
    return [by_torch.index(r) for r in ranks]


def all_reduce(a: np.ndarray, op: str, ranks: Sequence[int] | None) -> np.ndarray:
    """Elementwise ``op`` (sum, max, min) of every rank's ``a``."""
    td = require_torch()
    t = _to_torch(a)
    td.all_reduce(t, op={"sum": td.ReduceOp.SUM, "max": td.ReduceOp.MAX,
                         "min": td.ReduceOp.MIN}[op], group=_pg(ranks))
    return _from_torch(t, a.dtype)


def broadcast(a: np.ndarray, root: int, ranks: Sequence[int] | None) -> np.ndarray:
    """``root``'s ``a`` on every rank (``a`` gives the shape and dtype elsewhere)."""
    td = require_torch()
    t = _to_torch(a)
    td.broadcast(t, src=root, group=_pg(ranks))
    return _from_torch(t, a.dtype)


def all_gather(a: np.ndarray, ranks: Sequence[int]) -> list[np.ndarray]:
    """Every rank's ``a`` (equal shapes), in the order of ``ranks``."""
    td = require_torch()
    t = _to_torch(a)
    parts = [t.new_empty(t.shape) for _ in ranks]
    td.all_gather(parts, t, group=_pg(ranks))
    return [_from_torch(parts[i], a.dtype) for i in _order(ranks)]


def gather(a: np.ndarray, ranks: Sequence[int], rank: int) -> list[np.ndarray] | None:
    """Every rank's ``a`` on the root ``ranks[0]``, in the order of ``ranks``; None
    elsewhere."""
    td = require_torch()
    t = _to_torch(a)
    root = ranks[0]
    parts = [t.new_empty(t.shape) for _ in ranks] if rank == root else None
    td.gather(t, gather_list=parts, dst=root, group=_pg(ranks))
    if parts is None:
        return None
    return [_from_torch(parts[i], a.dtype) for i in _order(ranks)]


def scatter(chunks: list[np.ndarray] | None, like: np.ndarray, ranks: Sequence[int],
            rank: int) -> np.ndarray:
    """The root's ``chunks[i]`` on ``ranks[i]`` (``like``: the chunk's shape and dtype)."""
    td = require_torch()
    out = _to_torch(np.empty(like.shape, like.dtype))
    root = ranks[0]
    parts = None
    if rank == root:
        assert chunks is not None
        parts = [_to_torch(chunks[ranks.index(r)]) for r in sorted(ranks)]
    td.scatter(out, scatter_list=parts, src=root, group=_pg(ranks))
    return _from_torch(out, like.dtype)


_pending_sends: list[Any] = []


def isend(a: np.ndarray, dst: int) -> None:
    """Start sending ``a`` to rank ``dst``; :func:`wait_sends` (or the next
    :func:`recv`) waits for it."""
    _pending_sends.append(require_torch().isend(_to_torch(a), dst=dst))


def wait_sends() -> None:
    """Wait until every started send is delivered."""
    while _pending_sends:
        _pending_sends.pop(0).wait()


def recv(shape: Sequence[int], dtype: Any, src: int) -> np.ndarray:
    """An array of ``shape``/``dtype`` sent by rank ``src`` (then this rank's own sends are
    waited for)."""
    dtype = np.dtype(dtype)
    t = _to_torch(np.empty(tuple(shape), dtype))
    require_torch().recv(t, src=src)
    wait_sends()
    return _from_torch(t, dtype)


_batch: list[list[tuple[Any, Any, Any]]] = []


def group_start() -> None:
    """Begin a batch of point-to-point calls: :func:`recv_later` receives start, and
    :func:`group_end` completes them (MegEngine's ``group_start``, NCCL's group calls)."""
    _batch.append([])


def group_end() -> None:
    """Complete the receives started since :func:`group_start`, then this rank's sends."""
    if not _batch:
        raise RuntimeError("group_end without group_start")
    for work, buf, done in _batch.pop():
        work.wait()
        done(_from_torch(buf, buf.numpy().dtype))
    if is_initialized():
        wait_sends()


def recv_later(shape: Sequence[int], dtype: Any, src: int,
               done: Callable[[np.ndarray], Any]) -> bool:
    """Inside a batch (:func:`group_start`), start receiving from ``src`` and call
    ``done(array)`` at :func:`group_end`; False (nothing started) outside one."""
    if not _batch:
        return False
    buf = _to_torch(np.empty(tuple(shape), np.dtype(dtype)))
    _batch[-1].append((require_torch().irecv(buf, src=src), buf, done))
    return True


def send_object(obj: Any, dst: int) -> None:
    """Send a picklable ``obj`` to rank ``dst``."""
    require_torch().send_object_list([obj], dst=dst)


def recv_object(src: int) -> Any:
    """The object rank ``src`` sent with :func:`send_object`."""
    box = [None]
    require_torch().recv_object_list(box, src=src)
    return box[0]


def broadcast_object(obj: Any, root: int, ranks: Sequence[int] | None) -> Any:
    """``root``'s picklable ``obj`` on every rank of the group."""
    td = require_torch()
    box = [obj]
    td.broadcast_object_list(box, src=root, group=_pg(ranks))
    return box[0]


def barrier(ranks: Sequence[int] | None) -> None:
    """Wait until every rank of the group arrives."""
    require_torch().barrier(group=_pg(ranks))


__all__ = ["DEFAULT_TIMEOUT_S", "all_gather", "all_reduce", "barrier", "broadcast",
           "broadcast_object", "gather", "group_end", "group_start", "init",
           "is_initialized", "isend", "recv", "recv_later", "recv_object", "require_torch",
           "scatter", "send_object", "shutdown", "timeout_s", "wait_sends"]
