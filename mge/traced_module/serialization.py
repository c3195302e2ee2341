"""Loaders: functions that rewrite a TracedModule's exprs while it is unpickled.

MegEngine's ``register_{functional,module,tensor_method,opdef}_loader``: a loader gets
each matching expr of a graph being loaded (a ``CallFunction`` of a function, a call of a
module type, a Tensor method call, an ``Apply`` of an OpDef type) and may change its
arguments or build new exprs (``CallMethod(node, "astype")``, ``Constant(value, name)``)
that feed it; those are placed just before the expr. Functions and module types are named
``(module path, qualified name)``, with either MegEngine's ``megengine.`` paths or mge's.

Example:
    >>> @register_tensor_method_loader("__add__")
    ... def add_loader(expr):
    ...     pass  # rewrite expr here
    >>> new_tm = pickle.loads(pickle.dumps(traced))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .expr import Apply, CallFunction, CallMethod, Expr, collect_exprs
from .node import ModuleNode

OPDEF_LOADER: dict[Any, Callable] = {}
FUNCTIONAL_LOADER: dict[Any, Callable] = {}
TENSORMETHOD_LOADER: dict[Any, Callable] = {}
MODULE_LOADER: dict[Any, Callable] = {}


def _registrar(table_name: str, what: str) -> Callable:
    def register(*keys: Any) -> Callable[[Callable], Callable]:
        def callback(loader: Callable) -> Callable:
            table = globals()[table_name]  # looked up at call time: tests swap the tables
            for key in keys:
                if key in table:
                    raise ValueError(f"a {what} loader for {key!r} is already registered")
                table[key] = loader
            return loader

        return callback

    register.__name__ = f"register_{what}_loader"
    register.__doc__ = f"Decorator: register a loader for the given {what} keys."
    return register


register_opdef_loader = _registrar("OPDEF_LOADER", "opdef")
register_functional_loader = _registrar("FUNCTIONAL_LOADER", "functional")
register_module_loader = _registrar("MODULE_LOADER", "module")
register_tensor_method_loader = _registrar("TENSORMETHOD_LOADER", "tensor_method")


def _names(obj: Any) -> list[tuple[str, str]]:
    """``(module, qualname)`` of a function or class, as mge and as MegEngine name it."""
    module, qual = getattr(obj, "__module__", "") or "", getattr(obj, "__qualname__", "")
    keys = [(module, qual)]
    if module == "mge" or module.startswith("mge."):
        keys.append(("megengine" + module[3:], qual))
    return keys


def _loader_for(expr: Expr) -> Callable | None:
    if isinstance(expr, CallFunction):
        table, keys = FUNCTIONAL_LOADER, _names(expr.func)
    elif isinstance(expr, Apply):
        table, keys = OPDEF_LOADER, [type(expr.opdef)]
    elif isinstance(expr, CallMethod) and expr.inputs and \
            isinstance(expr.inputs[0], ModuleNode) and expr.method == "__call__":
        mtype = expr.inputs[0].module_type
        table, keys = MODULE_LOADER, _names(mtype) if isinstance(mtype, type) else [mtype]
    elif isinstance(expr, CallMethod):
        table, keys = TENSORMETHOD_LOADER, [expr.method]
    else:
        return None
    return next((table[k] for k in keys if k in table), None)


def apply_loaders(graph: Any) -> bool:
    """Run the registered loaders on ``graph``'s exprs; returns whether any ran."""
    ran = False
    for expr in list(graph._exprs):
        loader = _loader_for(expr)
        if loader is None:
            continue
        with collect_exprs() as made:
            loader(expr)
        index = graph._exprs.index(expr)
        graph._exprs[index:index] = made
        for new in made:
            new._top_graph = graph
            for node in new.outputs:
                if node.graph is None:
                    base = node._name or (f"{new.method.strip('_')}_out"
                                          if isinstance(new, CallMethod) else "const_tensor")
                    graph._add_node(node, base)
        ran = True
    return ran


__all__ = [
    "FUNCTIONAL_LOADER", "MODULE_LOADER", "OPDEF_LOADER", "TENSORMETHOD_LOADER",
    "register_functional_loader", "register_module_loader", "register_opdef_loader",
    "register_tensor_method_loader",
]
