"""What a TracedModule loaded with ``mge.load(weights_only=True)`` may do when it runs.

The restricted unpickler admits only data classes, but a graph is a program: a crafted
``GetAttr`` could read ``self.forward.__globals__`` and a ``CallMethod`` could call
whatever that reaches. :func:`check_graph` runs after loading, on every graph the pickle
holds, and admits only what tracing records:

* ``GetAttr`` reads a path of attributes (or numeric indexes) starting at ``self`` or at
  a module an earlier ``GetAttr`` gave; each step leaves a Module (or a list or tuple
  of them), never a ``__dunder__`` name, and the result is a Module or
  data (a Tensor, an array, a number), never a function or a method;
* ``CallMethod("__call__")`` calls such a module; any other method is a traceable
  Tensor method (``reshape``, ``__add__``, ...) called on a value that is not a module;
* ``CallFunction`` calls a public ``F.*`` function or builds a ``Tensor`` (``Tensor(x)``
  in forward); ``Apply`` applies an ``OpDef``;
* the graph's owner is the TracedModule that holds it.

Example:
    >>> import io, numpy as np, mge, mge.module as M, mge.traced_module as tm
    >>> traced = tm.trace_module(M.Linear(3, 2), mge.tensor(np.zeros((1, 3), "float32")))
    >>> buf = io.BytesIO(); mge.save(traced, buf); _ = buf.seek(0)
    >>> type(mge.load(buf)).__name__            # loads: the check admits traced graphs
    'TracedModule'
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..core.opdef import OpDef
from ..module import Module
from ..serialization.restricted_unpickler import WeightsOnlyUnpicklingError, register_load_check
from ..tensor import Parameter, Tensor
from .expr import Apply, CallFunction, CallMethod, Constant, Expr, GetAttr, Input, get_attr_path
from .graph import InternalGraph
from .traced_module import TracedModule

_ATTRIBUTE = re.compile(r"(?!__)[A-Za-z_][A-Za-z0-9_]*|\d+")
_DATA = (Tensor, np.ndarray, np.generic, int, float, complex, bool, str, bytes, type(None))
_TENSOR_METHODS = frozenset(
    name for name in dir(Tensor) if getattr(getattr(Tensor, name), "__mge_traceable__", None)
)


def _refuse(graph: InternalGraph, expr: Expr, problem: str) -> WeightsOnlyUnpicklingError:
    return WeightsOnlyUnpicklingError(
        f"a TracedModule graph {getattr(graph, '_name', '?')!r} whose expr {type(expr).__name__}"
        f" {problem}"
    )


def _step(value: Any, part: str) -> Any:
    """One step of ``get_attr_path``, taken only from a module or a list/tuple of them."""
    if isinstance(value, Module):
        return get_attr_path(value, part)
    if isinstance(value, (list, tuple)) and part.isdigit():
        return value[int(part)]
    raise TypeError(f"cannot read {part!r} of a {type(value).__name__}")


def _resolve(graph: InternalGraph, expr: GetAttr, base: Any) -> Any:
    name = expr.name
    if not isinstance(name, str) or not all(_ATTRIBUTE.fullmatch(p) for p in name.split(".")):
        raise _refuse(graph, expr, f"reads the attribute path {name!r}")
    value = base
    for part in name.split("."):
        try:
            value = _step(value, part)
        except (AttributeError, LookupError, TypeError) as exc:
            raise _refuse(graph, expr, f"reads {name!r}, which does not lead through modules "
                                       f"({exc})") from None
    is_data = isinstance(value, _DATA) or (
        isinstance(value, (list, tuple)) and all(isinstance(v, (*_DATA, Module)) for v in value))
    if not (isinstance(value, Module) or is_data):
        raise _refuse(graph, expr, f"reads {name!r}, a {type(value).__name__} (not a module "
                                   "or data)")
    return value


def _first_argument_is(expr: Expr, node: Any) -> bool:
    try:
        args, _ = expr.args_from(expr.inputs)
    except (TypeError, ValueError, AttributeError, StopIteration):
        return False
    return node is not None and bool(args) and args[0] is node


def check_graph(graph: InternalGraph) -> None:
    """Refuse a loaded graph that does more than a traced forward (see the module doc)."""
    owner = graph._owner
    if not isinstance(owner, TracedModule) or not any(
            g is graph for g in owner.argdef_graph_map.values()):
        raise WeightsOnlyUnpicklingError(
            f"a TracedModule graph {graph._name!r} that its owner does not hold")
    modules: dict[int, Any] = {id(graph._inputs[0]): owner} if graph._inputs else {}
    defined = {id(node) for node in graph._inputs}
    for expr in graph._exprs:
        kind = type(expr)
        if kind is not Input:
            for node in expr.outputs:
                if id(node) in defined:
                    raise _refuse(graph, expr, f"redefines the node {node!r}")
                defined.add(id(node))
        if kind in (Input, Constant):
            continue
        first = expr.inputs[0] if expr.inputs else None
        if kind in (GetAttr, CallMethod) and not _first_argument_is(expr, first):
            raise _refuse(graph, expr, "does not act on its first input node")
        if kind is GetAttr:
            if id(first) not in modules:
                raise _refuse(graph, expr, "reads an attribute of something not a module")
            value = _resolve(graph, expr, modules[id(first)])
            if isinstance(value, Module):
                modules.update((id(node), value) for node in expr.outputs)
        elif kind is CallMethod:
            if expr.method == "__call__":
                if id(first) not in modules:
                    raise _refuse(graph, expr, "calls something not a module")
            elif expr.method not in _TENSOR_METHODS or id(first) in modules:
                raise _refuse(graph, expr, f"calls the method {expr.method!r}")
        elif kind is CallFunction:
            func = expr.func
            if func not in (Tensor, Parameter) and not (
                    getattr(func, "__mge_traceable__", None)
                    and getattr(func, "__module__", "").startswith("mge.functional")):
                raise _refuse(graph, expr, f"calls {func!r} (not a public F.* function)")
        elif not (kind is Apply and isinstance(expr.opdef, OpDef)):
            raise _refuse(graph, expr, "is not one tracing records")


def check_traced_module(module: TracedModule) -> None:
    """Refuse a loaded TracedModule whose graphs are not its own."""
    graphs = getattr(module, "argdef_graph_map", None)
    if not isinstance(graphs, dict) or not all(
            isinstance(g, InternalGraph) and g._owner is module for g in graphs.values()):
        raise WeightsOnlyUnpicklingError("a TracedModule whose graphs are not its own")


register_load_check(InternalGraph, check_graph)
register_load_check(TracedModule, check_traced_module)
