"""What a trace records besides its graph, and the check of every later call against it.

As in MegEngine 1.13, a traced function runs its Python code on every call; after the
first (recording) call each ``apply`` is matched against the recorded instruction
sequence, and the first difference raises ``TraceError("trace error because <reason>")``
with MegEngine's reasons: ``operator mismatch``, ``input size mismatch``, ``tensors not
equals`` (a constant or a captured value changed), ``expect internal node, got
external``, ``expect external node, got internal``, ``input id mismatch``, ``too many
instructions``, ``mismature end`` and ``data unreadable`` (the function returns a value
the recording did not output). A function never gets a stale recorded result.

Var kinds follow MegEngine's: *internal* vars are op outputs; *external* vars are the
tensor arguments and tensors the function reads that exist outside it (parameters),
compared by value when the trace captures them as constants and by dtype otherwise;
*constant* vars are tensors made from Python values inside ``F.*`` (``x + 1``), always
compared by value.

Example:
    >>> import mge
    >>> from mge.jit import trace
    >>> flip = False
    >>> @trace(symbolic=True)
    ... def f(x):
    ...     return x - 1 if flip else x + 1
    >>> f(mge.tensor([1.0])).numpy()
    array([2.], dtype=float32)
    >>> flip = True
    >>> f(mge.tensor([1.0]))
    Traceback (most recent call last):
    ...
    mge.jit.trace_check.TraceError: trace error because operator mismatch
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core.opdef import OpDef
from ..core.tensor.base import Tensor
from ..core.tracing import JIT_STATE, jit_tracing
from ..graph.static_values import source_count


class TraceError(RuntimeError):
    """A traced function did something its recording cannot serve (MegEngine's TraceError)."""


def trace_error(reason: str) -> TraceError:
    """``TraceError`` with MegEngine's message form."""
    return TraceError(f"trace error because {reason}")


_state = JIT_STATE


def is_tracing() -> bool:
    """True inside a traced function's call, except within :func:`exclude_from_trace`."""
    return jit_tracing()


@contextlib.contextmanager
def tracing_call() -> Iterator[None]:
    """Mark a traced function's call (for :func:`is_tracing`)."""
    _state["active"] += 1
    try:
        yield
    finally:
        _state["active"] -= 1


@contextlib.contextmanager
def exclude_from_trace() -> Iterator[None]:
    """Run a block of a traced function eagerly on every call, outside the recording.

    Its ops are neither recorded nor checked; tensors it makes are read by the rest of
    the function like tensors from outside (their values may change between calls).

    Example:
        >>> import mge
        >>> from mge.jit import trace
        >>> @trace(symbolic=True)
        ... def f(x, flip):
        ...     with exclude_from_trace():
        ...         x = -x if flip else x
        ...     return x * 2
        >>> f(mge.tensor([1.0]), flip=False).numpy(), f(mge.tensor([1.0]), flip=True).numpy()
        (array([2.], dtype=float32), array([-2.], dtype=float32))
    """
    if _state["excluded"] or not _state["active"]:
        yield
        return
    _state["excluded"] = True
    try:
        yield
    finally:
        _state["excluded"] = False


def excluded() -> bool:
    """Whether ops now run inside :func:`exclude_from_trace` (observers skip them)."""
    return bool(_state["excluded"])


class OpProfile:
    """Host time between the ops of checked calls, per recorded step (``profiling=True``)."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.count = [0] * len(steps)
        self.seconds = [0.0] * len(steps)
        self._last = 0.0

    def start(self) -> None:
        self._last = time.perf_counter()

    def op_done(self, index: int) -> None:
        now = time.perf_counter()
        self.seconds[index] += now - self._last
        self.count[index] += 1
        self._last = now

    def report(self) -> dict[str, Any]:
        """MegEngine's ``get_profile()`` shape: ``{"profiler": {...}}``."""
        ops = [{"id": k, "type": step.op.type_name, "count": self.count[k],
                "host_time": self.seconds[k]} for k, step in enumerate(self.steps)]
        return {"profiler": {"operator": ops,
                             "total_host_time": sum(self.seconds)}}


class VarKind(enum.Enum):
    INTERNAL = "internal"
    EXTERNAL = "external"
    CONSTANT = "constant"


@dataclasses.dataclass(frozen=True)
class RecordedVar:
    """How a var of the recording is checked on later calls."""

    kind: VarKind
    dtype: np.dtype
    bound: np.ndarray | None = None  # the value compared on each call (None: not compared)
    excluded: bool = False  # made inside exclude_from_trace: any tensor may stand here


@dataclasses.dataclass(frozen=True)
class Step:
    """One recorded ``apply``: the op and the ids of its input and output vars."""

    op: OpDef
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


class TensorVars:
    """Which var a Tensor stands for (following ``set_value``, which swaps a tensor's data)."""

    def __init__(self) -> None:
        self._by_tensor: dict[int, tuple[Tensor, Any, Any, Any]] = {}
        self._by_data: dict[int, tuple[Any, Any]] = {}

    def bind(self, t: Tensor, var: Any) -> None:
        self._by_tensor[id(t)] = (t, t._data, t._backend, var)
        self._by_data[id(t._data)] = (t._data, var)

    def get(self, t: Tensor) -> Any:
        """The var bound to ``t`` (or to the data ``t`` was ``set_value``'d to), else None."""
        entry = self._by_tensor.get(id(t))
        if entry is not None and entry[0] is t and (
                entry[1] is t._data or entry[2] is not t._backend):
            return entry[3]
        data_entry = self._by_data.get(id(t._data))
        if data_entry is not None and data_entry[0] is t._data:
            return data_entry[1]
        return None

    def bound(self) -> list[tuple[Tensor, Any]]:
        return [(t, var) for t, _, _, var in self._by_tensor.values()]


def values_equal(recorded: np.ndarray, value: np.ndarray) -> bool:
    """MegEngine's comparison of a bound value: same shape and all elements equal."""
    return recorded.shape == value.shape and bool(np.all(recorded == value))


def same_op(a: OpDef, b: OpDef, nr_inputs: int | None = None) -> bool:
    """Whether two ops are the same operator with the same params; with ``nr_inputs``,
    params read from source inputs (a traced ``Reshape``'s target from a shape Tensor)
    are not compared: the inputs they come from are. Nor are ``value_params``."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if nr_inputs is not None and source_count(a, nr_inputs):
        names = {name for name, _ in a.mge_form.static}
        static = {f.name: f.default for f in dataclasses.fields(a) if f.name in names}
        a, b = dataclasses.replace(a, **static), dataclasses.replace(b, **static)
    if a.value_params:  # MegEngine's dynamic output shapes (a CondTake's count)
        free = {f.name: f.default for f in dataclasses.fields(a) if f.name in a.value_params}
        a, b = dataclasses.replace(a, **free), dataclasses.replace(b, **free)
    try:
        return bool(a == b)
    except ValueError:  # array-valued params
        pa, pb = a.params(), b.params()
        return pa.keys() == pb.keys() and all(
            np.array_equal(np.asarray(pa[k]), np.asarray(pb[k])) for k in pa)


class CallChecker:
    """The ``apply`` observer of a call after the recording: raises at the first difference."""

    def __init__(self, steps: list[Step], variables: dict[int, RecordedVar],
                 output_ids: set[int], profile: OpProfile | None = None) -> None:
        self.steps = steps
        self.variables = variables
        self.output_ids = output_ids
        self.pc = 0
        self.internal = TensorVars()
        self.from_excluded = TensorVars()
        self.profile = profile
        if profile is not None:
            profile.start()

    def __call__(self, op: OpDef, inputs: tuple, outputs: tuple) -> None:
        if excluded():
            for t in outputs:
                self.from_excluded.bind(t, True)
            return
        if self.pc >= len(self.steps):
            raise trace_error("too many instructions")
        step = self.steps[self.pc]
        self.pc += 1
        if len(inputs) != len(step.inputs):
            raise trace_error("input size mismatch")
        if not same_op(op, step.op, len(inputs)):
            raise trace_error("operator mismatch")
        for var_id, t in zip(step.inputs, inputs, strict=True):
            self._check_input(var_id, t)
        for var_id, t in zip(step.outputs, outputs, strict=True):
            self.internal.bind(t, var_id)
        if self.profile is not None:
            self.profile.op_done(self.pc - 1)

    def _check_input(self, var_id: int, t: Tensor) -> None:
        var = self.variables[var_id]
        got = self.internal.get(t)
        if var.excluded or (got is None and self.from_excluded.get(t) is not None):
            return  # computed outside the recording on every call
        if var.kind is VarKind.INTERNAL:
            if got is None:
                raise trace_error("expect internal node, got external")
            if got != var_id:
                raise trace_error("input id mismatch")
            return
        if got is not None:
            raise trace_error("expect external node, got internal")
        if var.bound is not None:
            if not values_equal(var.bound, t.numpy()):
                raise trace_error("tensors not equals")
        elif t.dtype != var.dtype:
            raise trace_error(f"dtype mismatch: {var.dtype} vs {t.dtype}")

    def finish(self, leaves: list[Any]) -> None:
        """After the function returned ``leaves``: every step ran, every result is readable."""
        if self.pc != len(self.steps):
            raise trace_error("mismature end")
        for t in leaves:
            got = self.internal.get(t)
            if got is not None and got not in self.output_ids:
                raise trace_error("data unreadable")


__all__ = ["CallChecker", "OpProfile", "RecordedVar", "Step", "TensorVars", "TraceError",
           "VarKind", "exclude_from_trace", "excluded", "is_tracing", "same_op", "trace_error",
           "tracing_call", "values_equal"]
