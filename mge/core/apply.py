"""``apply(op, *inputs)``: the one place where every eager op runs and is observed.

It validates the inputs with the op's ``infer`` rule (before any kernel runs), runs
the current backend's kernel, wraps the results as Tensors, and reports the call to
the active observers (``jit.trace`` records graphs this way; no monkeypatching).

An op with a preparation for the backend (``Backend.prepare``) is prepared once per
op, backend and input signature and the prepared kernel is cached (up to
``MAX_PREPARED`` entries); other ops call their kernel directly.

Example:
    >>> import mge
    >>> from mge.ops import Elemwise
    >>> (y,) = apply(Elemwise(mode="RELU"), mge.tensor([-1.0, 2.0]))
    >>> y.numpy()
    array([0., 2.], dtype=float32)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from .. import config
from ..backends import PrepareSite, get_backend
from .async_error import failed_outputs
from .opdef import OpDef, TensorInfo
from .tensor.base import Tensor

ApplyObserver = Callable[[OpDef, tuple, tuple], None]
_observers: list[ApplyObserver] = []
#: autodiff tapes (``mge.core.autodiff``) recording while a session is entered
_recorders: list[ApplyObserver] = []
#: prepared eager kernels kept (the cache is emptied when it grows past this)
MAX_PREPARED = 4096
_prepared: dict[tuple, Callable[..., Any]] = {}
#: ``hook(op, inputs, out_infos, backend) -> output arrays | None``: a traced call's
#: graph-optimization values (``mge.jit.inplace_arith``); the first that answers wins
ValueHook = Callable[[OpDef, tuple, list, Any], "list[Any] | None"]
_value_hooks: list[ValueHook] = []
#: tensors ``F.*`` made from Python values while observed (MegEngine's ``Const`` tensors)
_constants: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


class SymbolicValue(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a symbolic tensor's ``_array_on`` (a var of a graph being edited, such as
    ``mge.utils.network_node.VarNode``): ``apply`` then asks its class to build the op
    into the graph (``apply_symbolic(op, inputs, out_infos)``) instead of running it."""

    def __init__(self, tensor: Tensor) -> None:
        super().__init__(type(tensor).__name__)
        self.tensor = tensor


def apply(op: OpDef, *inputs: Tensor) -> tuple[Tensor, ...]:
    """Run ``op`` on ``inputs`` with the default backend; returns one Tensor per output."""
    in_infos = [TensorInfo(t._shape, t._dtype) for t in inputs]
    out_infos = op.check_inputs(in_infos)
    backend = get_backend()
    try:
        arrays = [t._data if t._backend is backend else t._array_on(backend) for t in inputs]
    except SymbolicValue as symbolic:
        return type(symbolic.tensor).apply_symbolic(op, inputs, out_infos)
    result = _hooked(op, inputs, out_infos, backend) if _value_hooks else None
    device = inputs[0]._device if inputs else None
    if result is None:
        try:
            if backend.name in type(op).preparers:
                result = _prepared_kernel(backend, op, in_infos, out_infos)(*arrays)
            else:
                result = backend.run(op, arrays)
        except RuntimeError as exc:  # MegEngine reports a value check's failure later
            if op.checks_values and config.async_level > 0:
                return failed_outputs(exc, out_infos, device)
            raise
        if len(out_infos) == 1:
            result = (result,)
    wrap = Tensor._wrap
    outputs = tuple(wrap(arr, info.shape, info.dtype, backend, device)
                    for arr, info in zip(result, out_infos))
    if op.format_rule != "default" and any(t._format != "default" for t in inputs):
        _carry_format(op.format_rule, inputs, outputs)
    for record in _recorders:
        record(op, inputs, outputs)
    for observe in _observers:
        observe(op, inputs, outputs)
    return outputs


def _hooked(op: OpDef, inputs: tuple[Tensor, ...], out_infos: list[TensorInfo],
            backend: Any) -> tuple[Any, ...] | None:
    """The output arrays the first value hook gives, or None."""
    for hook in _value_hooks:
        arrays = hook(op, inputs, out_infos, backend)
        if arrays is not None:
            return tuple(arrays)
    return None


def _carry_format(rule: str, inputs: tuple[Tensor, ...], outputs: tuple[Tensor, ...]) -> None:
    """Give ``outputs`` the format tag ``rule`` (``OpDef.format_rule``) says."""
    first = inputs[0]
    fmt = first._format
    if rule == "any":
        fmt = next(t._format for t in inputs if t._format != "default")
    for out in outputs:
        if rule != "same_ndim" or len(out._shape) == len(first._shape):
            out._format = fmt


def _prepared_kernel(backend: Any, op: OpDef, in_infos: list[TensorInfo],
                     out_infos: list[TensorInfo]) -> Callable[..., Any]:
    """``op``'s kernel prepared by ``backend`` for these inputs (cached)."""
    key = (backend.name, op, *in_infos)
    fn = _prepared.get(key)
    if fn is None:
        prepared = backend.prepare(op, PrepareSite(in_infos, out_infos))
        fn = prepared.fn
        if prepared.args != tuple(range(len(in_infos))):
            fn = _select(fn, prepared.args)
        if len(_prepared) >= MAX_PREPARED:
            _prepared.clear()
        _prepared[key] = fn
    return fn


def _select(fn: Callable[..., Any], args: tuple[int, ...]) -> Callable[..., Any]:
    return lambda *xs: fn(*[xs[i] for i in args])


def add_observer(fn: ApplyObserver) -> None:
    """Call ``fn(op, inputs, outputs)`` after every ``apply`` until removed."""
    _observers.append(fn)


def remove_observer(fn: ApplyObserver) -> None:
    """Stop calling ``fn``; a no-op if it was not registered."""
    if fn in _observers:
        _observers.remove(fn)


def add_recorder(fn: ApplyObserver) -> None:
    """Call ``fn(op, inputs, outputs)`` after every ``apply`` (an autodiff tape; tracers
    use :func:`add_observer`) until :func:`remove_recorder`."""
    if fn not in _recorders:
        _recorders.append(fn)


def remove_recorder(fn: ApplyObserver) -> None:
    """Stop calling the tape ``fn``; a no-op if it was not registered."""
    if fn in _recorders:
        _recorders.remove(fn)


def add_value_hook(fn: ValueHook) -> None:
    """Let ``fn`` give the output arrays of ops it rewrites (before any kernel runs)."""
    _value_hooks.append(fn)


def remove_value_hook(fn: ValueHook) -> None:
    """Stop asking ``fn``; a no-op if it was not registered."""
    if fn in _value_hooks:
        _value_hooks.remove(fn)


def observing() -> bool:
    """True while some observer (a tracer) is active."""
    return bool(_observers)


def mark_constant(t: Tensor) -> Tensor:
    """Note that ``t`` was made from a Python value (``x + 1``); returns ``t``.

    Observers (``jit.trace``) compare such constants by value on later calls; nothing is
    noted while no observer is active.
    """
    if _observers:
        _constants[id(t)] = t
    return t


def is_constant(t: Tensor) -> bool:
    """Whether ``t`` was made from a Python value while observed (see ``mark_constant``)."""
    return _constants.get(id(t)) is t


def run_op(op: OpDef, *arrays: Any, backend: Any = None) -> Any:
    """Run a kernel on raw backend arrays (no Tensor wrapping, no observers)."""
    return (backend or get_backend()).run(op, list(arrays))


__all__ = ["SymbolicValue", "add_observer", "add_recorder", "add_value_hook", "apply",
           "is_constant",
           "mark_constant", "observing", "remove_observer", "remove_recorder", "remove_value_hook",
           "run_op"]
