"""Collective communication (MegEngine's ``megengine.distributed.functional``), with the
gradients MegEngine defines.

Each collective runs on the processes of a :class:`~mge.distributed.Group` (``WORLD`` by
default); every rank of the group must call it, in the same order. Results are those of
MegEngine 1.13, including the group's rank order (its first rank is the root). Gradients
follow MegEngine's ``CollectiveComm`` rules: all_reduce_sum <-> all_reduce_sum, all_gather
<-> reduce_scatter_sum, broadcast -> reduce to the root, scatter -> gather to the root,
all_to_all -> all_to_all, all_reduce_max/min -> the summed gradient where the input is the
extreme, reduce_sum -> broadcast, gather -> scatter, remote_send <-> remote_recv.
``reduce_sum`` and ``gather`` return ``None`` off the root; there (and after
``remote_send``) the next ``GradManager.backward`` joins the backward collective by itself,
as in MegEngine (``gm.backward()`` with no arguments on those ranks).

Not distributed (a world of one), each collective gives its one-process result.

Example:
    >>> import mge, mge.distributed.functional as DF
    >>> DF.all_reduce_sum(mge.tensor([1.0, 2.0])).numpy()  # a world of one
    array([1., 2.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.autodiff import Function
from ..core.autodiff.future import keep_for_backward
from ..core.autodiff.grad import active_sessions
from ..tensor import Tensor
from . import _comm
from .group import WORLD, Group, get_rank, is_distributed

__all__ = ["all_gather", "all_reduce_max", "all_reduce_min", "all_reduce_sum", "all_to_all",
           "broadcast", "gather", "reduce_scatter_sum", "reduce_sum", "remote_recv",
           "remote_send", "scatter"]


def _ranks(group: Group | None) -> list[int]:
    group = WORLD if group is None else group
    if not isinstance(group, Group):
        raise TypeError(f"mge.distributed: expected a Group, got {type(group).__name__}")
    return group.ranks


def _torch_group(ranks: list[int]) -> list[int] | None:
    """The ranks for :mod:`._comm` (None: the whole world)."""
    return None if is_distributed() and WORLD.proc_ranks == ranks else ranks


def _tensor(a: np.ndarray, like: Tensor | None = None) -> Tensor:
    return Tensor(np.array(a, order="C", copy=True), dtype=a.dtype,  # 0-d stays 0-d
                  device=None if like is None else like.device)


def _chunks(a: np.ndarray, n: int, name: str) -> list[np.ndarray]:
    if a.ndim == 0 or a.shape[0] % n:
        raise ValueError(f"mge.distributed.{name}: axis 0 of shape {a.shape} does not split "
                         f"into {n} equal parts")
    return np.split(a, n, axis=0)


# -- the collectives on arrays (axis 0) -------------------------------------------------------

def _all_reduce(a: np.ndarray, op: str, ranks: list[int]) -> np.ndarray:
    if len(ranks) == 1:
        return a.copy()
    return _comm.all_reduce(a, op, _torch_group(ranks))


def _all_gather(a: np.ndarray, ranks: list[int]) -> np.ndarray:
    if len(ranks) == 1:
        return a.copy()
    return np.concatenate(_comm.all_gather(a, ranks), axis=0)


def _reduce_scatter(a: np.ndarray, ranks: list[int]) -> np.ndarray:
    _chunks(a, len(ranks), "reduce_scatter_sum")
    if len(ranks) == 1:
        return a.copy()
    total = _all_reduce(a, "sum", ranks)
    return _chunks(total, len(ranks), "reduce_scatter_sum")[ranks.index(get_rank())].copy()


def _all_to_all(a: np.ndarray, ranks: list[int]) -> np.ndarray:
    _chunks(a, len(ranks), "all_to_all")
    if len(ranks) == 1:
        return a.copy()
    me = ranks.index(get_rank())
    parts = _comm.all_gather(a, ranks)
    return np.concatenate([np.split(p, len(ranks), axis=0)[me] for p in parts], axis=0)


def _shape_dtype(a: np.ndarray | None, ranks: list[int]) -> tuple[tuple[int, ...], np.dtype]:
    """The root's shape and dtype, on every rank."""
    meta = None if a is None else (a.shape, a.dtype.str)
    shape, dtype = _comm.broadcast_object(meta, ranks[0], _torch_group(ranks))
    return tuple(shape), np.dtype(dtype)


def _tracked(t: Tensor) -> bool:
    """Whether a recording session differentiates through ``t``."""
    return any(g.recording for g in (t._tape or {}))


def _tracked_by_root(inp: Tensor, ranks: list[int]) -> bool:
    """Whether the root's input is being differentiated (then every rank joins backward)."""
    tracked = _tracked(inp) if get_rank() == ranks[0] else None
    return bool(_comm.broadcast_object(tracked, ranks[0], _torch_group(ranks)))


def _track(dummy: Tensor) -> None:
    """Let the recording sessions differentiate through ``dummy`` (a non-root's stand-in
    input), so that this rank joins the backward collective."""
    for g in active_sessions():
        if g.recording:
            g.wrt(dummy)


# -- the differentiable collectives ------------------------------------------------------

class _Collective(Function):
    """One collective on a group; ``backward`` runs the collective of its gradient."""

    def __init__(self, ranks: list[int]) -> None:
        self.ranks = ranks

    def _zeros(self, grad: Tensor | None, like: Tensor) -> np.ndarray:
        return np.zeros(like.shape, like.dtype) if grad is None else grad.numpy()


class _AllReduce(_Collective):
    def __init__(self, ranks: list[int], op: str) -> None:
        super().__init__(ranks)
        self.op = op

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        self.y = _tensor(_all_reduce(x.numpy(), self.op, self.ranks), x)
        return self.y

    def backward(self, dy: Tensor | None) -> Tensor:
        g = _all_reduce(self._zeros(dy, self.y), "sum", self.ranks)
        if self.op != "sum":  # the gradient goes where the input is the extreme
            g = np.where(self.x.numpy() == self.y.numpy(), g, np.zeros_like(g))
        return _tensor(g, self.x)


class _AllGather(_Collective):
    def forward(self, x: Tensor) -> Tensor:
        self.y = _tensor(_all_gather(x.numpy(), self.ranks), x)
        return self.y

    def backward(self, dy: Tensor | None) -> Tensor:
        return _tensor(_reduce_scatter(self._zeros(dy, self.y), self.ranks), self.y)


class _ReduceScatter(_Collective):
    def forward(self, x: Tensor) -> Tensor:
        self.y = _tensor(_reduce_scatter(x.numpy(), self.ranks), x)
        return self.y

    def backward(self, dy: Tensor | None) -> Tensor:
        return _tensor(_all_gather(self._zeros(dy, self.y), self.ranks), self.y)


class _AllToAll(_Collective):
    def forward(self, x: Tensor) -> Tensor:
        self.y = _tensor(_all_to_all(x.numpy(), self.ranks), x)
        return self.y

    def backward(self, dy: Tensor | None) -> Tensor:
        return _tensor(_all_to_all(self._zeros(dy, self.y), self.ranks), self.y)


class _Broadcast(_Collective):
    def forward(self, x: Tensor) -> Tensor:
        a = x.numpy()
        if len(self.ranks) > 1:
            a = _comm.broadcast(a, self.ranks[0], _torch_group(self.ranks))
        self.y = _tensor(a.copy(), x)
        return self.y

    def backward(self, dy: Tensor | None) -> Tensor | None:
        total = _all_reduce(self._zeros(dy, self.y), "sum", self.ranks)
        return _tensor(total, self.y) if get_rank() == self.ranks[0] else None


class _Scatter(_Collective):
    def __init__(self, ranks: list[int], chunk: tuple[tuple[int, ...], np.dtype]) -> None:
        super().__init__(ranks)
        self.chunk = chunk

    def forward(self, x: Tensor) -> Tensor:
        root = get_rank() == self.ranks[0]
        if len(self.ranks) == 1:
            return _tensor(x.numpy().copy(), x)
        like = np.empty(*self.chunk)
        chunks = _chunks(x.numpy(), len(self.ranks), "scatter") if root else None
        self.y = _tensor(_comm.scatter(chunks, like, self.ranks, get_rank()), x)
        return self.y

    def backward(self, dy: Tensor | None) -> Tensor | None:
        if len(self.ranks) == 1:
            return dy
        g = np.empty(*self.chunk) if dy is None else dy.numpy()
        parts = _comm.gather(np.zeros_like(g) if dy is None else g, self.ranks, get_rank())
        return None if parts is None else _tensor(np.concatenate(parts, axis=0))


class _ReduceSum(_Collective):
    """The sum on the root (the other ranks' output is a placeholder kept for backward);
    the gradient is the root's, broadcast."""

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        return _tensor(_all_reduce(x.numpy(), "sum", self.ranks), x)

    def backward(self, dy: Tensor | None) -> Tensor:
        g = self._zeros(dy, self.x)
        if len(self.ranks) > 1:
            g = _comm.broadcast(g, self.ranks[0], _torch_group(self.ranks))
        return _tensor(g, self.x)


class _Gather(_Collective):
    """The ranks' inputs concatenated on the root (elsewhere the input itself, a placeholder
    kept for backward); the gradient is the root's, scattered."""

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        a = x.numpy()
        if len(self.ranks) == 1:
            return _tensor(a.copy(), x)
        parts = _comm.gather(a, self.ranks, get_rank())
        return _tensor(a.copy() if parts is None else np.concatenate(parts, axis=0), x)

    def backward(self, dy: Tensor | None) -> Tensor:
        if len(self.ranks) == 1:
            return _tensor(self._zeros(dy, self.x), self.x)
        root = get_rank() == self.ranks[0]
        chunks = _chunks(dy.numpy() if dy is not None else
                         np.zeros((len(self.ranks) * self.x.shape[0], *self.x.shape[1:]),
                                  self.x.dtype), len(self.ranks), "gather") if root else None
        like = np.empty(self.x.shape, np.dtype(self.x.dtype))
        return _tensor(_comm.scatter(chunks, like, self.ranks, get_rank()), self.x)


class _RemoteSend(Function):
    """Send to ``dest``; backward receives the gradient ``dest`` computes."""

    def __init__(self, dest: int) -> None:
        self.dest = dest

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        _comm.isend(np.ascontiguousarray(x.numpy()), self.dest)
        return Tensor(np.zeros((1,), np.float32))

    def backward(self, dy: Tensor | None) -> Tensor:
        return _tensor(_comm.recv(self.x.shape, np.dtype(self.x.dtype), self.dest), self.x)


class _RemoteRecv(Function):
    """Receive from ``src``; backward sends this rank's gradient back to ``src``."""

    def __init__(self, src: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.src, self.shape, self.dtype = src, shape, dtype

    def forward(self, dummy: Tensor) -> Tensor:
        return Tensor(_comm.recv(self.shape, self.dtype, self.src), dtype=self.dtype,
                      device=dummy.device)

    def backward(self, dy: Tensor | None) -> None:
        g = np.zeros(self.shape, self.dtype) if dy is None else dy.numpy()
        _comm.isend(np.ascontiguousarray(g), self.src)
        _comm.wait_sends()


# -- axis handling (differentiable tensor ops around the axis-0 collectives) ---------------

def _split_to_axis0(inp: Tensor, axis: int, n: int, name: str) -> Tensor:
    """Reorder ``inp`` so that its ``n`` chunks along ``axis`` are the chunks along axis 0."""
    shape = list(inp.shape)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis < len(shape) or shape[axis] % n:
        raise ValueError(f"mge.distributed.{name}: axis {axis} of shape {tuple(shape)} does "
                         f"not split into {n} equal parts")
    if axis == 0:
        return inp
    split = shape[:axis] + [n, shape[axis] // n] + shape[axis + 1:]
    pattern = [axis] + list(range(axis)) + list(range(axis + 1, len(split)))
    flat = [shape[0] * n] + shape[1:axis] + [shape[axis] // n] + shape[axis + 1:]
    return inp.reshape(split).transpose(pattern).reshape(flat)


def _concat_from_axis0(out: Tensor, axis: int, n: int) -> Tensor:
    """The ``n`` chunks of ``out`` along axis 0, concatenated along ``axis`` instead."""
    shape = list(out.shape)
    axis = axis + len(shape) if axis < 0 else axis
    if axis == 0:
        return out
    parts = [n, shape[0] // n] + shape[1:]
    pattern = list(range(1, axis + 1)) + [0] + list(range(axis + 1, len(parts)))
    target = [shape[0] // n] + shape[1:]
    target[axis] *= n
    return out.reshape(parts).transpose(pattern).reshape(target)


# -- MegEngine's API -----------------------------------------------------------------------

def all_reduce_sum(inp: Tensor, group: Group | None = WORLD, device: str | None = None
                   ) -> Tensor:
    """The elementwise sum of ``inp`` over the group, on every rank.

    Example:
        >>> import mge, mge.distributed.functional as DF
        >>> DF.all_reduce_sum(mge.tensor([3.0])).numpy()
        array([3.], dtype=float32)
    """
    return _AllReduce(_ranks(group), "sum")(inp)


def all_reduce_max(inp: Tensor, group: Group | None = WORLD, device: str | None = None
                   ) -> Tensor:
    """The elementwise maximum of ``inp`` over the group, on every rank."""
    return _AllReduce(_ranks(group), "max")(inp)


def all_reduce_min(inp: Tensor, group: Group | None = WORLD, device: str | None = None
                   ) -> Tensor:
    """The elementwise minimum of ``inp`` over the group, on every rank."""
    return _AllReduce(_ranks(group), "min")(inp)


def all_gather(inp: Tensor, group: Group | None = WORLD, device: str | None = None,
               axis: int = 0) -> Tensor:
    """Every rank's ``inp`` concatenated along ``axis``, in the group's rank order."""
    ranks = _ranks(group)
    return _concat_from_axis0(_AllGather(ranks)(inp), axis, len(ranks))


def reduce_scatter_sum(inp: Tensor, group: Group | None = WORLD, device: str | None = None,
                       axis: int = 0) -> Tensor:
    """The sum over the group, split along ``axis``: group rank ``i`` gets part ``i``."""
    ranks = _ranks(group)
    return _ReduceScatter(ranks)(_split_to_axis0(inp, axis, len(ranks), "reduce_scatter_sum"))


def all_to_all(inp: Tensor, group: Group | None = WORLD, device: str | None = None,
               split_axis: int = 0, concat_axis: int = 0) -> Tensor:
    """Group rank ``i`` gets part ``i`` (along ``split_axis``) of every rank's ``inp``,
    concatenated along ``concat_axis`` in rank order."""
    ranks = _ranks(group)
    out = _AllToAll(ranks)(_split_to_axis0(inp, split_axis, len(ranks), "all_to_all"))
    return _concat_from_axis0(out, concat_axis, len(ranks))


def broadcast(inp: Tensor, group: Group | None = WORLD, device: str | None = None) -> Tensor:
    """The root's ``inp`` on every rank (the other ranks' ``inp`` is ignored)."""
    ranks = _ranks(group)
    if len(ranks) > 1:
        shape, dtype = _shape_dtype(inp.numpy() if get_rank() == ranks[0] else None, ranks)
        if get_rank() != ranks[0]:
            inp = Tensor(np.zeros(shape, dtype))
            if _tracked_by_root(inp, ranks):
                _track(inp)
        else:
            _tracked_by_root(inp, ranks)
    return _Broadcast(ranks)(inp)


def scatter(inp: Tensor, group: Group | None = WORLD, device: str | None = None,
            axis: int = 0) -> Tensor:
    """The root's ``inp`` split along ``axis``: group rank ``i`` gets part ``i``."""
    ranks = _ranks(group)
    root = get_rank() == ranks[0]
    if len(ranks) > 1:
        shape, dtype = _shape_dtype(inp.numpy() if root else None, ranks)
        if not root:
            inp = Tensor(np.zeros(shape, dtype))
            if _tracked_by_root(inp, ranks):
                _track(inp)
        else:
            _tracked_by_root(inp, ranks)
    x = _split_to_axis0(inp, axis, len(ranks), "scatter")
    chunk = ((x.shape[0] // len(ranks), *x.shape[1:]), np.dtype(x.dtype))
    return _Scatter(ranks, chunk)(x)


def reduce_sum(inp: Tensor, group: Group | None = WORLD, device: str | None = None
               ) -> Tensor | None:
    """The elementwise sum of ``inp`` over the group on the root; ``None`` elsewhere (there
    the next ``GradManager.backward`` joins the backward broadcast by itself)."""
    ranks = _ranks(group)
    out = _ReduceSum(ranks)(inp)
    if get_rank() == ranks[0]:
        return out
    keep_for_backward(out)
    return None


def gather(inp: Tensor, group: Group | None = WORLD, device: str | None = None,
           axis: int = 0) -> Tensor | None:
    """Every rank's ``inp`` concatenated along ``axis`` on the root; ``None`` elsewhere
    (there the next ``GradManager.backward`` joins the backward scatter by itself)."""
    ranks = _ranks(group)
    if not -inp.ndim <= axis < inp.ndim:
        raise AssertionError(f"your concat_axis exceeds the dim of the tensor, the tensor "
                             f"shape is {tuple(inp.shape)}")
    out = _Gather(ranks)(inp)
    if get_rank() == ranks[0]:
        return _concat_from_axis0(out, axis, len(ranks))
    keep_for_backward(out)
    return None


def remote_send(inp: Tensor, dest_rank: int) -> None:
    """Send ``inp`` to ``dest_rank``, which calls :func:`remote_recv`. When ``inp`` is
    being differentiated, the next ``GradManager.backward`` receives its gradient from
    ``dest_rank``."""
    a = inp.numpy()
    tracked = _tracked(inp)
    _comm.send_object((a.shape, a.dtype.str, tracked), dest_rank)
    if tracked:
        keep_for_backward(_RemoteSend(dest_rank)(inp))
    else:
        _comm.isend(np.ascontiguousarray(a), dest_rank)


def remote_recv(src_rank: int, device: str | None = None, inp: Any = None) -> Tensor:
    """The tensor ``src_rank`` sends with :func:`remote_send`; when the sender
    differentiates it, this rank's gradient of the result goes back to ``src_rank``."""
    shape, dtype, tracked = _comm.recv_object(src_rank)
    dummy = Tensor(np.zeros((1,), np.float32), device=device)
    if tracked:
        _track(dummy)
    return _RemoteRecv(src_rank, tuple(shape), np.dtype(dtype))(dummy)


def _remote_send_nobackward(inp: Tensor, dest_rank: int) -> None:
    _comm.isend(np.ascontiguousarray(inp.numpy()), dest_rank)


def _remote_recv_nobackward(src_rank: int, device: str | None = None, inp: Any = None,
                            shape: Sequence[int] | None = None, dtype: Any = None) -> Tensor:
    if shape is None or dtype is None:
        raise AssertionError("_remote_recv_nobackward: shape and dtype are required")
    out = Tensor(np.zeros(tuple(shape), np.dtype(dtype)), device=device)
    # between group_start and group_end the data arrives at group_end (in place)
    if _comm.recv_later(shape, dtype, src_rank, lambda a: out.set_value(
            Tensor(a, dtype=a.dtype, device=out.device))):
        return out
    return Tensor(_comm.recv(shape, dtype, src_rank), dtype=np.dtype(dtype), device=device)
