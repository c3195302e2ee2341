"""MegBrain's "inplace" arithmetic simplifications, as a trace's values see them.

With ``graph_opt_level >= 1`` MegBrain rewrites some elementwise expressions while it
builds a graph (the rules of :mod:`mge.jit.arith_rules`), which changes the numbers a
traced function returns: ``y / y`` is 1 where ``y`` is 0, ``log(exp(x))`` is ``x`` where
``exp(x)`` overflows. A ``trace(opt_level=1 or 2)`` call in mge returns those numbers
too: :class:`InplaceArith` is an ``apply`` value hook (and observer) active during the
traced call that gives a matching op the value of the rewritten expression.

As in MegEngine 1.13 (checked against it): calls after the first also merge identical
ops on the same inputs and equal constants (MegBrain's operator dedup), so
``x * 2 - x * 2`` is 0 there; in a symbolic first call two uses of a function argument
are two vars (``x / x`` stays NaN at 0); a non-symbolic first call runs eagerly,
unchanged. The recorded ops, the autodiff tape and the trace checks see the ops the
code wrote; only values change.

Example:
    >>> import mge, mge.functional as F
    >>> from mge.jit import trace
    >>> @trace(symbolic=True, opt_level=1)
    ... def f(x):
    ...     return F.log(F.exp(x))
    >>> f(mge.tensor([1e4])).numpy()
    array([10000.], dtype=float32)
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any

import numpy as np

from ..core.apply import is_constant, run_op
from ..core.opdef import OpDef, TensorInfo
from ..ops.elemwise import Elemwise
from ..ops.shape import Broadcast, Reshape
from ..tensor import Tensor
from .arith_rules import simplify
from .megbrain_facts import MAX_SHARED_CONST_ELEMS, VALUE_INFERRED
from .trace_check import excluded

#: modes whose outputs the rules look at (their inputs are kept during the call)
_WATCHED = frozenset({"EXP", "ADD", "MUL", "TRUE_DIV"})
#: kept producers past which those of dead outputs are dropped
_PRUNE_AT = 256


class InplaceArith:
    """The value hook and observer of one traced call (see the module docstring).

    Args:
        dedup: merge identical deterministic ops on the same inputs (calls after the
            first, which run MegBrain's compiled graph).
        arguments: the call's tensor arguments; in a first call each use of one is a
            var of its own (MegEngine's symbolic tracing), so never "the same".
    """

    def __init__(self, dedup: bool, arguments: tuple[Tensor, ...] = ()) -> None:
        self.dedup = dedup
        self._fresh_per_use = {id(t) for t in arguments} if not dedup else set()
        self._keep = arguments
        self._serial = itertools.count()
        self._nodes: dict[int, tuple[weakref.ref, int]] = {}
        self._merged: dict[tuple, int] = {}
        #: node -> (mode, input tensors, output) of the watched Elemwise outputs
        self._producers: dict[int, tuple[str, tuple[Tensor, ...], weakref.ref]] = {}
        self._limit = _PRUNE_AT
        #: node -> value of one-element constants (and their Broadcast/Reshape)
        self._scalars: dict[int, float] = {}
        self._backend: Any = None

    # ---------------------------------------------------------------- ArithView, bookkeeping
    def _node(self, t: Tensor) -> int:
        if id(t) in self._fresh_per_use:
            return next(self._serial)
        entry = self._nodes.get(id(t))
        if entry is not None and entry[0]() is t:
            return entry[1]
        if self.dedup and is_constant(t) and int(np.prod(t.shape)) <= MAX_SHARED_CONST_ELEMS:
            value = np.asarray(t.numpy())  # MegBrain shares equal small constants
            key = ("const", value.dtype.str, value.shape, value.tobytes())
            return self._bind(t, self._merged.setdefault(key, next(self._serial)))
        return self._bind(t, next(self._serial))

    def _bind(self, t: Tensor, node: int) -> int:
        self._nodes[id(t)] = (weakref.ref(t), node)
        return node

    def scalar(self, t: Tensor) -> float | None:
        if is_constant(t) and int(np.prod(t.shape)) == 1:
            return float(np.asarray(t.numpy()).reshape(()))
        entry = self._nodes.get(id(t))
        if entry is not None and entry[0]() is t:
            return self._scalars.get(entry[1])
        return None

    def made_by(self, t: Tensor, mode: str) -> tuple[Tensor, ...] | None:
        entry = self._nodes.get(id(t))
        if entry is None or entry[0]() is not t:
            return None
        made = self._producers.get(entry[1])
        return made[1] if made is not None and made[0] == mode else None

    def __call__(self, op: OpDef, inputs: tuple, outputs: tuple) -> None:
        """Observer: number the outputs (merged when deduplicating) and keep what the
        rules read later."""
        if excluded():
            return
        nodes = tuple(self._node(t) for t in inputs)
        for k, t in enumerate(outputs):
            node = None
            if self.dedup and isinstance(op, VALUE_INFERRED):
                key = (op, nodes, k)
                node = self._merged.setdefault(key, next(self._serial))
            node = self._bind(t, node if node is not None else next(self._serial))
            if isinstance(op, Elemwise) and op.mode in _WATCHED and self._read_later(op.mode,
                                                                                   inputs):
                self._keep_producer(node, op.mode, tuple(inputs), t)
            elif isinstance(op, (Broadcast, Reshape)) and inputs:
                k0 = self.scalar(inputs[0])
                if k0 is not None:
                    self._scalars[node] = k0

    def _read_later(self, mode: str, inputs: tuple) -> bool:
        """Whether a rule may read the inputs of this op's output: EXP always, ADD/MUL/
        TRUE_DIV only with an EXP-made or a constant input (so other activations are
        not kept alive)."""
        return mode == "EXP" or any(self.made_by(x, "EXP") is not None
                                    or self.scalar(x) is not None for x in inputs)

    def _keep_producer(self, node: int, mode: str, inputs: tuple, out: Tensor) -> None:
        if len(self._producers) >= self._limit:  # forget those whose output is gone
            self._producers = {k: v for k, v in self._producers.items() if v[2]() is not None}
            self._limit = max(_PRUNE_AT, 2 * len(self._producers))
        self._producers[node] = (mode, inputs, weakref.ref(out))

    def same(self, a: Tensor, b: Tensor) -> bool:
        return self._node(a) == self._node(b)

    def value(self, t: Tensor) -> Any:
        backend = self._backend
        return t._data if t._backend is backend else t._array_on(backend)

    def ew(self, mode: str, *arrays: Any) -> Any:
        return run_op(Elemwise(mode=mode), *arrays, backend=self._backend)

    def fill(self, like: Tensor, unit: int) -> np.ndarray:
        return np.full(like.shape, unit, dtype=like.dtype)

    # ---------------------------------------------------------------- values
    def rewrite(self, op: OpDef, inputs: tuple, out_infos: list[TensorInfo],
                backend: Any) -> list[Any] | None:
        """Value hook: the outputs' arrays when a rule fires, else None."""
        if not isinstance(op, Elemwise) or excluded() or len(out_infos) != 1:
            return None
        self._backend = backend
        value = simplify(self, op.mode, tuple(inputs))
        if value is None:
            return None
        info = out_infos[0]
        value = value if isinstance(value, np.ndarray) else backend.to_numpy(value)
        # a fresh writable array: a rule's result may be an input's own array (``a * 1``)
        array = np.array(np.broadcast_to(value.astype(info.dtype, copy=False), info.shape))
        device = inputs[0]._device if inputs else None
        return [backend.asarray(array, device)]


__all__ = ["InplaceArith"]
