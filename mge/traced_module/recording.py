"""What both call tracers share: turning call arguments into nodes, naming, builtins.

``Tracer`` (``trace_module``, in :mod:`.tracer`) records a forward into new graphs;
``InsertTracer`` (``graph.insert_exprs()``, in :mod:`.insert`) records calls on an
existing graph's nodes. Builtin modules (``mge.module`` leaves and registered classes)
are recorded as calls; user modules are traced into.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.tracing import traceable
from ..module import Sequential
from ..quantization.fake_quant import _FakeQuantize
from ..quantization.observer import Observer
from ..tensor import Tensor
from .expr import CallFunction, CallMethod, Expr
from .node import Node, TensorNode
from .pytree import LEAF_TYPES, tree_flatten

_BUILTIN: set[type] = set()
_PLAIN = (type(None), bool, int, float, complex, str, bytes, slice, type(Ellipsis),
          np.dtype, np.generic, np.ndarray, type)


class TraceError(RuntimeError):
    """A forward that cannot be recorded (tensor-valued control flow, unsupported objects)."""


def register_as_builtin(mod_cls: type) -> type:
    """Treat ``mod_cls`` like a builtin module: record its calls, do not trace into it."""
    _BUILTIN.add(mod_cls)
    return mod_cls


def wrap(func: Callable) -> Callable:
    """Record calls of ``func`` as one ``CallFunction`` expr instead of tracing into it
    (MegEngine's ``traced_module.wrap``); call it where ``func`` is defined, at module
    level, so that code calling ``func`` by that name calls the wrapped one.

    Example:
        >>> def scale(x, k):
        ...     return x * k
        >>> scale = wrap(scale)
    """
    return traceable(func)


def is_builtin(module: Any) -> bool:
    """Builtin modules are leaves: mge.module classes (but containers), registered ones and,
    as in MegEngine, every observer and fake quantizer (subclasses included)."""
    cls = type(module)
    if cls in _BUILTIN or any(issubclass(cls, b) for b in _BUILTIN):
        return True
    if isinstance(module, (Observer, _FakeQuantize)):
        return True
    return cls.__module__.startswith("mge.module") and not isinstance(module, Sequential)


def class_name(module: Any) -> str:
    """The user-facing class name (a TracedModule reports the class it was traced from)."""
    return getattr(module, "origin_class", "") or type(module).__qualname__


def _is_tensor_method(public: Callable, args: tuple) -> bool:
    return bool(args) and isinstance(args[0], (Tensor, TensorNode)) and \
        getattr(Tensor, public.__name__, None) is public


def out_base(public: Callable) -> str:
    return f"{public.__name__.strip('_')}_out"


def call_expr(public: Callable, args: tuple, node_args: tuple, node_kwargs: dict) -> Expr:
    """A CallMethod for a Tensor method, else a CallFunction, over the node arguments."""
    if _is_tensor_method(public, args):
        expr = CallMethod(node_args[0], public.__name__)
        expr.set_args_kwargs(*node_args, **node_kwargs)
        return expr
    return CallFunction(public, node_args, node_kwargs)


class ArgDef:
    """The structure of a call's arguments plus its non-tensor values (selects a graph)."""

    def __init__(self, args: tuple, kwargs: dict) -> None:
        leaves, self.tree = tree_flatten((tuple(args), dict(kwargs)))
        self.consts = tuple(None if isinstance(v, (Tensor, Node)) else _hashable(v)
                            for v in leaves)
        self.tensor_leaves = [v for v in leaves if isinstance(v, (Tensor, Node))]

    def key(self) -> tuple:
        return (self.tree, self.consts)


def _hashable(v: Any) -> Any:
    try:
        hash(v)
        return v
    except TypeError:
        return repr(v)


class Recorder:
    """Shared logic: turning call arguments into nodes and recording exprs."""

    def _node_for(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def _args_to_nodes(self, args: tuple, kwargs: dict, where: str) -> tuple[tuple, dict]:
        leaves, tree = tree_flatten((tuple(args), dict(kwargs)))
        return tree.unflatten([self._node_for(v, where) for v in leaves])

    def _check_plain(self, value: Any, where: str) -> Any:
        if isinstance(value, (*_PLAIN, *LEAF_TYPES)) or callable(value) and \
                hasattr(value, "__module__") and \
                str(value.__module__).startswith(("mge.", "numpy")):
            return value
        raise TraceError(
            f"{where}: unsupported Python object of type {type(value).__name__} ({value!r:.60}); "
            "only Tensors, Modules, numbers, strings, dtypes and nested tuples/lists/dicts "
            "of them can be recorded"
        )


def attr_paths(module: Any) -> dict[int, str]:
    paths: dict[int, str] = {}
    for name, sub in module.named_modules():
        if name:
            paths.setdefault(id(sub), name)
    for name, t in module.named_tensors():
        paths.setdefault(id(t), name)
    return paths


def sample(node: TensorNode) -> Tensor:
    if node.shape is None or node.dtype is None:
        raise TraceError(f"{node} has no known shape/dtype; cannot record calls on it")
    return Tensor(np.zeros(node.shape, dtype=node.dtype), device=node.device)


__all__ = ["ArgDef", "TraceError", "is_builtin", "register_as_builtin"]
