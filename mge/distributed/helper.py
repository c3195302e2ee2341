"""Data-parallel helpers (MegEngine's ``megengine.distributed.helper``).

:func:`make_allreduce_cb` makes the ``GradManager.attach`` callback that sums or averages
each gradient over the processes of a group; :func:`bcast_list_` copies the root's
parameters to every process; :func:`synchronized` makes a function end with a barrier.
Gradients are packed per dtype (MegEngine's parameter packing) into one all-reduce per
``GradManager.backward``, so a model costs one collective per dtype, not one per parameter.

Example:
    >>> import mge, mge.distributed as dist
    >>> from mge.autodiff import GradManager
    >>> w = mge.Parameter([1.0, 2.0])
    >>> gm = GradManager().attach([w], callbacks=[dist.make_allreduce_cb("mean")])
    >>> with gm:
    ...     gm.backward((w * w).sum())
    >>> w.grad.numpy()  # a world of one: the mean over one process
    array([2., 4.], dtype=float32)
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import functional as F
from ..core.autodiff.future import Future, backwarding_grad_manager
from ..tensor import Tensor
from . import _comm
from .functional import _all_reduce, _ranks, _torch_group
from .group import WORLD, Group, group_barrier, is_distributed


def param_pack_split(inp: Tensor, offsets: Sequence[int], shapes: Sequence[Sequence[int]]
                     ) -> list[Tensor]:
    """The pieces ``inp[offsets[2i]:offsets[2i+1]]`` of a flat tensor, shaped ``shapes[i]``.

    Example:
        >>> import mge
        >>> b, c = param_pack_split(mge.tensor([0, 1, 2, 3, 4]), [0, 1, 1, 5], [(1,), (2, 2)])
        >>> c.numpy().tolist()
        [[1, 2], [3, 4]]
    """
    if len(offsets) != 2 * len(shapes):
        raise ValueError(f"param_pack_split: {len(offsets)} offsets for {len(shapes)} shapes "
                         "(expected two per shape)")
    return [inp[offsets[2 * i]:offsets[2 * i + 1]].reshape(tuple(shape) or (1,))
            for i, shape in enumerate(shapes)]


def param_pack_concat(inps: Sequence[Tensor], offsets: Any, offsets_val: Sequence[int]
                      ) -> Tensor:
    """The flattened ``inps`` concatenated (``offsets_val``: their ``[begin, end]`` pairs).

    Example:
        >>> import mge
        >>> param_pack_concat([mge.tensor([1]), mge.tensor([[2, 3]])], None, [0, 1, 1, 3]).numpy()
        array([1, 2, 3], dtype=int32)
    """
    sizes = [int(np.prod(t.shape)) for t in inps]
    want = [offsets_val[2 * i + 1] - offsets_val[2 * i] for i in range(len(inps))]
    if sizes != want:
        raise ValueError(f"param_pack_concat: tensor sizes {sizes} do not match the offsets "
                         f"{list(offsets_val)}")
    return F.concat([t.reshape(-1) for t in inps], axis=0)


def get_offsets(shapes: Sequence[Sequence[int]]) -> list[int]:
    """``[begin0, end0, begin1, end1, ...]`` of tensors of ``shapes`` packed flat."""
    offsets, offset = [], 0
    for shape in shapes:
        offsets.append(offset)
        offset += int(np.prod(shape))
        offsets.append(offset)
    return offsets


def synchronized(func: Callable) -> Callable:
    """Decorator: when distributed, every process waits at a barrier after ``func``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ret = func(*args, **kwargs)
        if is_distributed():
            group_barrier()
        return ret

    return wrapper


def bcast_list_(inps: Sequence[Tensor], group: Group = WORLD) -> None:
    """Replace each tensor's value by the group root's, in place (the parameters of every
    process start equal)."""
    ranks = _ranks(group)
    if len(ranks) == 1:
        return
    for inp in inps:
        value = _comm.broadcast(inp.numpy(), ranks[0], _torch_group(ranks))
        inp._reset(Tensor(value, dtype=value.dtype, device=inp.device))


class AllreduceCallback:
    """The gradient callback of data parallelism: each attached tensor's gradient becomes
    its sum (``"sum"``) or mean (``"mean"``) over the processes of ``group``.

    Gradients are collected during ``GradManager.backward`` and reduced, packed per dtype,
    when it ends or when a dtype's pack exceeds ``_param_pack_thd`` bytes (MegEngine's
    ``TensorFuture`` protocol: the callback returns a future).

    Args:
        reduce_method: ``"sum"`` or ``"mean"``.
        group: the processes to reduce over.
        backend: kept for MegEngine's signature (gloo runs the reduction).
    """

    def __init__(self, reduce_method: str, group: Group = WORLD, backend: str | None = None
                 ) -> None:
        reduce_method = reduce_method.lower()
        if reduce_method not in ("sum", "mean"):
            raise AssertionError("reduce_method should be sum or mean")
        self._reduce_method = reduce_method
        self._group = group
        self._backend = backend
        self._marked: weakref.WeakSet = weakref.WeakSet()  # managers flushing this callback
        #: bytes of gradients of one dtype that are reduced together as soon as collected
        self._param_pack_thd = 10 * 1024 * 1024
        self._reset()

    def _reset(self) -> None:
        self._pending: dict[str, list[tuple[Tensor, Tensor, Any]]] = {}

    def __call__(self, param: Tensor, grad: Tensor) -> Any:
        gm = backwarding_grad_manager()
        if gm is None:  # called outside GradManager.backward: reduce now
            return self._reduce([grad])[0]
        if gm not in self._marked:
            gm._register_after_backward_callback(self._flush)
            self._marked.add(gm)
        future = Future()
        dtype = str(np.dtype(grad.dtype))
        items = self._pending.setdefault(dtype, [])
        items.append((param, grad, future))
        if sum(int(np.prod(g.shape)) * np.dtype(dtype).itemsize for _, g, _ in items) \
                > self._param_pack_thd:
            self._pack(self._pending.pop(dtype))
        return future

    def _reduce(self, grads: list[Tensor]) -> list[Tensor]:
        ranks = _ranks(self._group)
        flat = np.concatenate([g.numpy().reshape(-1) for g in grads])
        flat = _all_reduce(flat, "sum", ranks)
        if self._reduce_method == "mean":
            flat = (flat / len(ranks)).astype(flat.dtype)
        out, offset = [], 0
        for g in grads:
            n = int(np.prod(g.shape))
            out.append(Tensor(flat[offset:offset + n].reshape(g.shape), dtype=flat.dtype,
                              device=g.device))
            offset += n
        return out

    def _pack(self, items: list[tuple[Tensor, Tensor, Any]]) -> None:
        for (_, _, future), grad in zip(items, self._reduce([g for _, g, _ in items])):
            future.set(grad)

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for dtype in sorted(pending):
            self._pack(pending[dtype])


make_allreduce_cb = AllreduceCallback

__all__ = ["AllreduceCallback", "bcast_list_", "get_offsets", "make_allreduce_cb",
           "param_pack_concat", "param_pack_split", "synchronized"]
