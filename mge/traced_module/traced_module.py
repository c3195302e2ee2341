"""``TracedModule`` and ``trace_module``: a Module whose forward is a recorded graph.

Example:
    >>> import mge, mge.module as M, mge.traced_module as tm
    >>> net = M.Sequential(M.Conv2d(3, 4, 3), M.ReLU())
    >>> traced = tm.trace_module(net, mge.tensor(np.zeros((1, 3, 8, 8), "float32")))
    >>> isinstance(traced, M.Module), traced.graph.get_module_by_type(M.Conv2d).as_count()
    (True, 1)
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from ..core.tensor.base import Tensor
from ..module import Module
from ..module.qat.module import QATModule
from .checker import check_outputs, checking
from .expr import CallMethod, GetAttr, Input, get_attr_path
from .graph import GraphError, InternalGraph, renumber
from .node import ModuleNode
from .pytree import TreeDef
from .recording import ArgDef, TraceError, is_builtin
from .serialization import apply_loaders
from .tracer import Tracer


class TracedModule(Module):
    """A Module whose ``forward`` interprets recorded graphs (one per argument structure).

    Attributes:
        argdef_graph_map: argument-structure key -> InternalGraph.
        argdef_outdef_map: argument-structure key -> output structure.
        is_top: True for the module ``trace_module`` returned.
        is_qat: True for a traced QAT module (``flatten`` keeps its calls, as MegEngine).
    """

    is_qat: bool = False

    def __init__(self, is_top: bool, argdef_graph_map: dict, argdef_outdef_map: dict,
                 origin_class: str = "", is_qat: bool = False) -> None:
        super().__init__()
        self.is_qat = is_qat
        #: the traced forward's ``inspect.FullArgSpec`` on the top module, else None.
        self.argspec: inspect.FullArgSpec | None = None
        self.argdef_graph_map = argdef_graph_map
        self.argdef_outdef_map = argdef_outdef_map
        self.is_top = is_top
        self.origin_class = origin_class
        for graph in argdef_graph_map.values():
            graph._owner = self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        argdef = ArgDef(args, kwargs)
        key = argdef.key()
        graph = self.argdef_graph_map.get(key)
        if graph is None:
            if len(self.argdef_graph_map) != 1:
                raise TypeError(
                    f"{self.origin_class or 'TracedModule'}: no graph was traced for arguments "
                    f"{argdef.tree!r}; traced: {[k[0] for k in self.argdef_graph_map]}"
                )
            (key, graph), = self.argdef_graph_map.items()
        tensors = argdef.tensor_leaves
        if len(tensors) != len(graph._inputs) - 1:
            raise TypeError(f"{graph.name}: expected {len(graph._inputs) - 1} tensor inputs, "
                            f"got {len(tensors)}")
        outs = graph.interpret(self, *tensors)
        out_def: TreeDef = graph._out_def or self.argdef_outdef_map[key]
        return out_def.unflatten(outs)

    def __getstate__(self) -> dict:
        # pickles hold the argspec as plain data, without annotations (as MegEngine);
        # mge.load admits no inspect classes
        state = dict(self.__dict__)
        if state.get("argspec") is not None:
            state["argspec"] = tuple(state["argspec"]._replace(annotations={}))
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state.get("argspec"), tuple):
            state["argspec"] = inspect.FullArgSpec(*state["argspec"])
        self.__dict__.update(state)
        ran = [apply_loaders(g) for g in self.argdef_graph_map.values()]
        if any(ran) and self.is_top:
            _renumber(self)

    @staticmethod
    def _trace_child(module: Module, args: tuple, kwargs: dict) -> TracedModule:
        """Trace a user module inserted into one of this module's graphs."""
        return trace_module(module, *args, **kwargs)

    @property
    def _is_top(self) -> bool:
        """MegEngine's name of ``is_top``."""
        return self.is_top

    @property
    def graph(self) -> InternalGraph:
        """The graph (``ValueError`` if several argument structures were traced)."""
        if len(self.argdef_graph_map) != 1:
            raise ValueError(f"{len(self.argdef_graph_map)} graphs were traced; "
                             "use argdef_graph_map")
        return next(iter(self.argdef_graph_map.values()))

    def _rebind_graph(self, graph: InternalGraph) -> None:
        """After add_input_node/reset_outputs: refresh the recorded output structure."""
        for key, g in self.argdef_graph_map.items():
            if g is graph:
                self.argdef_outdef_map[key] = graph._out_def

    def flatten(self) -> TracedModule:
        """A copy whose single graph has every traced submodule call inlined."""
        new = copy.deepcopy(self)
        for graph in new.argdef_graph_map.values():
            _inline_calls(graph)
            graph.compile()
        _renumber(new)
        return new

    def __repr__(self) -> str:
        graphs = "\n".join(repr(g) for g in self.argdef_graph_map.values())
        return f"{self.origin_class or 'TracedModule'}(\n{graphs}\n)"


def _inline_calls(graph: InternalGraph) -> None:
    """Replace each call of a traced submodule by that submodule's exprs."""
    changed = True
    while changed:
        changed = False
        for expr in list(graph._exprs):
            if not (isinstance(expr, CallMethod) and expr.method == "__call__"):
                continue
            target = expr.inputs[0]
            if not isinstance(target, ModuleNode):
                continue
            module = target.owner
            if not isinstance(module, TracedModule) or module.is_qat:
                continue
            _inline_one(graph, expr, target, module)
            changed = True
            break


def _inline_one(graph: InternalGraph, call: CallMethod, target: ModuleNode,
                module: TracedModule) -> None:
    sub = copy.deepcopy(module.graph)
    prefix = _attr_path(graph, target)
    sub_self = sub._inputs[0]
    mapping: dict[int, Any] = {id(sub_self): target}
    for sub_in, outer in zip(sub._inputs[1:], call.inputs[1:]):
        mapping[id(sub_in)] = outer
    new_exprs = []
    # names as MegEngine's: inner nodes get the call target's name as prefix, the
    # results keep the names of the call's outputs
    result_names = {id(o): c._name for o, c in zip(sub._outputs, call.outputs)}
    for node in call.outputs:
        graph._namespace.used.pop(node._name, None)
    for e in sub._exprs:
        if isinstance(e, Input):
            continue
        if isinstance(e, GetAttr) and e.inputs[0] is sub_self:
            e.name = f"{prefix}.{e.name}"
            e.inputs = [graph._inputs[0]]
        else:
            e.inputs = [mapping.get(id(n), n) for n in e.inputs]
        for n in e.inputs:
            if n.users.count(e) < e.inputs.count(n):
                n.users.append(e)
        for out in e.outputs:
            graph._add_node(out, result_names.get(id(out), f"{target._name}_{out._name}"))
        e._top_graph = graph
        new_exprs.append(e)
    results = [mapping.get(id(o), o) for o in sub._outputs]
    index = graph._exprs.index(call)
    graph._exprs[index:index + 1] = new_exprs
    for node in call.inputs:
        if call in node.users:
            node.users.remove(call)
    for old, new in zip(call.outputs, results):
        for user in list(old.users):
            user.replace_input(old, new)
        graph._outputs = [new if o is old else o for o in graph._outputs]


def _attr_path(graph: InternalGraph, node: ModuleNode) -> str:
    parts = []
    while node is not graph._inputs[0]:
        expr = node.expr
        if not isinstance(expr, GetAttr):
            raise GraphError(f"cannot find the attribute path of {node}")
        parts.append(expr.name)
        node = expr.inputs[0]
    return ".".join(reversed(parts))


def trace_module(mod: Module, *args: Any, **kwargs: Any) -> TracedModule:
    """Trace ``mod(*args, **kwargs)`` into a TracedModule that keeps the module hierarchy.

    Builtin modules (``mge.module`` layers) stay calls; user modules become traced
    submodules with graphs of their own. The result computes what ``mod`` computes.

    Raises:
        TraceError: for tensor-valued Python control flow or unsupported objects.
    """
    if not isinstance(mod, Module):
        raise TypeError(f"trace_module needs a Module, got {type(mod).__name__}")
    if is_builtin(mod):
        raise TraceError(f"{type(mod).__name__} is a builtin module: wrap it in a Module "
                         "or Sequential to trace it")
    tracer = Tracer()
    expected = tracer.trace(mod, args, kwargs)
    built: dict[int, TracedModule] = {}
    top = _build(mod, tracer, built, _read_tensors(tracer), is_top=True)
    top.argspec = mod.argspec if isinstance(mod, TracedModule) else \
        inspect.getfullargspec(mod.forward)
    _renumber(top)
    if checking():
        check_outputs(top, expected, args, kwargs)
    return top


def _read_tensors(tracer: Tracer) -> set[int]:
    """ids of the attribute Tensors that some traced graph reads (its ``GetAttr``s)."""
    read: set[int] = set()
    for module, graphs, _ in tracer.traced.values():
        for graph in graphs.values():
            for expr in graph._exprs:
                if isinstance(expr, GetAttr):
                    value = get_attr_path(module, expr.name)
                    if isinstance(value, Tensor):
                        read.add(id(value))
    return read


def _build(module: Module, tracer: Tracer, built: dict[int, TracedModule], read: set[int],
           is_top: bool = False) -> Any:
    if id(module) in built:
        return built[id(module)]
    entry = tracer.traced.get(id(module))
    if entry is None:
        return module
    _, graphs, outdefs = entry
    origin = module.origin_class if isinstance(module, TracedModule) \
        else type(module).__qualname__
    is_qat = isinstance(module, QATModule) or getattr(module, "is_qat", False)
    tm = TracedModule(is_top, dict(graphs), dict(outdefs), origin_class=origin, is_qat=is_qat)
    built[id(module)] = tm
    skip = set(vars(tm))
    for name, value in vars(module).items():
        # as MegEngine's builder: a Tensor attribute forward never reads is left out
        if name in skip or (isinstance(value, Tensor) and id(value) not in read):
            continue
        setattr(tm, name, _map_modules(value, tracer, built, read))
    tm.training = module.training
    return tm


def _map_modules(value: Any, tracer: Tracer, built: dict[int, TracedModule],
                 read: set[int]) -> Any:
    if isinstance(value, Module):
        return value if is_builtin(value) else _build(value, tracer, built, read)
    if _module_container(value):
        # as MegEngine: a list or dict holding only modules becomes a (graphless)
        # TracedModule whose attributes are the items ("0", "1", ... or the keys)
        holder = TracedModule(False, {}, {}, origin_class=type(value).__name__)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            setattr(holder, str(key), _map_modules(item, tracer, built, read))
        return holder
    if isinstance(value, (list, tuple)):
        mapped = [_map_modules(v, tracer, built, read) for v in value]
        if not isinstance(value, tuple):
            return mapped
        return type(value)(*mapped) if hasattr(value, "_fields") else type(value)(mapped)
    if isinstance(value, dict):
        return type(value)((k, _map_modules(v, tracer, built, read)) for k, v in value.items())
    return value


def _module_container(value: Any) -> bool:
    """A non-empty list or dict whose items are all modules or such containers."""
    if type(value) is list or isinstance(value, dict):
        items = value.values() if isinstance(value, dict) else value
        return bool(value) and all(isinstance(v, Module) or _module_container(v)
                                   for v in items)
    return False


def _renumber(top: TracedModule) -> None:
    renumber(list(top.argdef_graph_map.values()))


__all__ = ["TraceError", "TracedModule", "trace_module"]
