"""``Tracer``: records a module's forward (and its user submodules') into InternalGraphs.

It is a call tracer (``mge.core.tracing``): public ``F.*`` functions and Tensor methods
hand it each call, ``Module.__call__`` hands it module calls. Raw ``apply`` calls made by
user code are recorded as ``Apply`` exprs.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from ..core.apply import add_observer, remove_observer
from ..core.tracing import active_call_tracer, call_tracer, observe_tensor_init
from ..module import Module
from ..tensor import Tensor
from .expr import Apply, CallFunction, CallMethod, Constant, Expr, GetAttr
from .graph import InternalGraph
from .node import ModuleNode, Node, TensorNode
from .pytree import tree_flatten
from .recording import (
    ArgDef,
    Recorder,
    TraceError,
    attr_paths,
    call_expr,
    class_name,
    is_builtin,
    out_base,
)


@dataclasses.dataclass
class _Frame:
    """Tracing state for one module's forward."""

    module: Any
    graph: InternalGraph
    self_node: ModuleNode
    nodes: dict[int, Node] = dataclasses.field(default_factory=dict)
    keep: list[Any] = dataclasses.field(default_factory=list)
    paths: dict[int, str] = dataclasses.field(default_factory=dict)
    attr_nodes: dict[str, Node] = dataclasses.field(default_factory=dict)
    user_names: dict[int, str] = dataclasses.field(default_factory=dict)


class Tracer(Recorder):
    """Records a module's forward (and its user submodules') into InternalGraphs."""

    def __init__(self) -> None:
        self.frames: list[_Frame] = []
        #: id(module) -> (module, {argdef key: graph}, {argdef key: out treedef})
        self.traced: dict[int, tuple[Any, dict, dict]] = {}

    # ------------------------------------------------------------ entry point
    def trace(self, module: Any, args: tuple, kwargs: dict) -> Any:
        """Run ``module(*args, **kwargs)`` while recording; returns its outputs."""
        add_observer(self._on_apply)
        try:
            with observe_tensor_init(self._on_tensor_init), call_tracer(self):
                return module(*args, **kwargs)
        finally:
            remove_observer(self._on_apply)

    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    # ------------------------------------------------------------ tracer protocol
    def call(self, fn: Callable, public: Callable, args: tuple, kwargs: dict) -> Any:
        node_args, node_kwargs = self._args_to_nodes(args, kwargs, f"{public.__name__}()")
        with call_tracer(None):
            out = fn(*args, **kwargs)
        self._record(call_expr(public, args, node_args, node_kwargs), out, out_base(public))
        return out

    def call_module(self, module: Any, run: Callable, args: tuple, kwargs: dict) -> Any:
        if not self.frames:
            return self._trace_into(module, run, args, kwargs, parent=None)
        mnode = self._module_node(module)
        node_args, node_kwargs = self._args_to_nodes(args, kwargs, f"{mnode.name}()")
        if is_builtin(module):
            with call_tracer(None):
                out = run(*args, **kwargs)
        else:
            out = self._trace_into(module, run, args, kwargs, parent=mnode)
        expr = CallMethod(mnode)
        expr.set_args_kwargs(mnode, *node_args, **node_kwargs)
        self._record(expr, out, f"{mnode.name}_out")
        return out

    def on_value_access(self, tensor: Tensor, what: str) -> None:
        """Refuse Python control flow on traced tensor values."""
        node = self.frame.nodes.get(id(tensor)) if self.frames else None
        if node is not None and not isinstance(node.expr, Constant):
            raise TraceError(
                f"forward of {self.frame.graph.qualname} uses the value of {node} "
                f"(from {node.expr!r}) in Python ({what}): tensor-dependent control flow "
                "cannot be traced; compute it with F.* functions (e.g. F.where) instead"
            )

    # ------------------------------------------------------------ internals
    def _on_apply(self, op: Any, inputs: tuple, outputs: tuple) -> None:
        if active_call_tracer() is not self or not self.frames:
            return
        nodes = [self._node_for(t, str(op)) for t in inputs]
        self._record(Apply(op, nodes), tuple(outputs), f"{op.type_name.lower()}_out")

    def _on_tensor_init(self, tensor: Tensor, args: tuple, kwargs: dict) -> None:
        """``Tensor(x)`` / ``Tensor([1, x])`` on traced tensors in forward: recorded as a
        call of ``Tensor`` (MegEngine records ``Tensor.__new__``); otherwise a constant."""
        if active_call_tracer() is not self or not self.frames:
            return
        nodes = self.frame.nodes
        if not any(isinstance(v, Tensor) and id(v) in nodes
                   for v in tree_flatten((args, kwargs))[0]):
            return
        node_args, node_kwargs = self._args_to_nodes(args, kwargs, "Tensor()")
        self._record(CallFunction(type(tensor), node_args, node_kwargs), tensor, "tensor_out")

    def _take_user_name(self, node: Node, value: Tensor) -> None:
        """``t.name = "..."`` set in forward on a computed tensor names its node, made
        unique in the graph (``a``, ``a_1``, ...) as MegEngine's."""
        seen = self.frame.user_names
        if not value.name or seen.get(id(node)) == value.name or \
                not isinstance(node.expr, (Apply, CallMethod, CallFunction)):
            return
        seen[id(node)] = value.name
        space = self.frame.graph._namespace
        space.used.pop(node._name, None)
        node._name = space.create(value.name, node)

    def _record(self, expr: Expr, out: Any, base: str) -> None:
        frame = self.frame
        frame.graph._append(expr)
        expr.set_outputs(out, lambda v: self._new_tensor_node(v, base))

    def _new_tensor_node(self, value: Any, base: str) -> TensorNode | None:
        if not isinstance(value, Tensor):
            return None
        frame = self.frame
        node = TensorNode(None, base, value.shape, value.dtype, value.device)
        frame.graph._add_node(node, base)
        frame.nodes[id(value)] = node
        frame.keep.append(value)
        return node

    def _node_for(self, value: Any, where: str) -> Any:
        frame = self.frame
        if isinstance(value, Tensor):
            node = frame.nodes.get(id(value))
            if node is not None:
                self._take_user_name(node, value)
                return node
            path = frame.paths.get(id(value))
            if path is not None:
                return self._getattr_node(path, value)
            node = TensorNode(None, "const_tensor", value.shape, value.dtype, value.device)
            frame.graph._add_node(node, "const_tensor")
            frame.graph._append(Constant(value, node))
            frame.nodes[id(value)] = node
            frame.keep.append(value)
            return node
        if isinstance(value, Module):
            return self._module_node(value)
        if isinstance(value, Node):
            raise TraceError(f"{where}: graph nodes cannot be passed while tracing a module")
        return self._check_plain(value, where)

    def _module_node(self, module: Any) -> ModuleNode:
        frame = self.frame
        if module is frame.module:
            return frame.self_node
        path = frame.paths.get(id(module))
        if path is None:
            raise TraceError(
                f"{type(module).__name__} called in {frame.graph.qualname} is not an attribute "
                "of the traced module; assign it in __init__ (self.name = module) first"
            )
        return self._getattr_node(path, module)

    def _getattr_node(self, path: str, value: Any) -> Node:
        frame = self.frame
        node = frame.attr_nodes.get(path)
        if node is not None:
            return node
        base = path.replace(".", "_")
        if isinstance(value, Module):
            mtype = type(value) if is_builtin(value) else class_name(value)
            node = ModuleNode(None, base, mtype)
        else:
            node = TensorNode(None, base, value.shape, value.dtype, value.device)
            frame.nodes[id(value)] = node
        frame.graph._add_node(node, base)
        expr = GetAttr(frame.self_node, path)
        frame.graph._append(expr)
        expr.outputs = [node]
        node.expr = expr
        frame.attr_nodes[path] = node
        return node

    def _trace_into(self, module: Any, run: Callable, args: tuple, kwargs: dict,
                    parent: ModuleNode | None) -> Any:
        argdef = ArgDef(args, kwargs)
        # the top graph is named as MegEngine's: the module's name, else its class's
        top = getattr(module, "name", None) or class_name(module).rsplit(".", 1)[-1]
        qual = top if parent is None else f"{self.frame.graph.qualname}.{parent.name}"
        graph = InternalGraph(top if parent is None else parent.name, qual)
        self_node = ModuleNode(None, "self", class_name(module))
        graph._add_input(self_node, "self")
        frame = _Frame(module, graph, self_node, paths=attr_paths(module))
        self.frames.append(frame)
        try:
            for name, tensor in _named_tensor_args(module, args, kwargs):
                node = TensorNode(None, name, tensor.shape, tensor.dtype, tensor.device)
                graph._add_input(node, name)
                frame.nodes[id(tensor)] = node
                frame.keep.append(tensor)
            graph._arg_def = argdef.tree
            out = run(*args, **kwargs)
            leaves, out_def = tree_flatten(out)
            outs = []
            for leaf in leaves:
                if not isinstance(leaf, Tensor):
                    raise TraceError(
                        f"forward of {qual} returns {type(leaf).__name__}; only Tensors "
                        "(in tuples, lists or dicts) can be graph outputs"
                    )
                outs.append(self._node_for(leaf, f"{qual} output"))
            graph._outputs, graph._out_def = outs, out_def
        finally:
            self.frames.pop()
        _, graphs, outdefs = self.traced.setdefault(id(module), (module, {}, {}))
        graphs.setdefault(argdef.key(), graph)
        outdefs.setdefault(argdef.key(), out_def)
        return out


def _named_tensor_args(module: Any, args: tuple, kwargs: dict) -> list[tuple[str, Tensor]]:
    """(name, tensor) for every Tensor leaf of the call, named after forward's parameters."""
    graphs = getattr(module, "argdef_graph_map", None)
    if graphs and len(graphs) == 1 and not kwargs:
        names = [n.name for n in next(iter(graphs.values()))._inputs[1:]]
        tensors = [v for v in tree_flatten(args)[0] if isinstance(v, Tensor)]
        if len(names) == len(tensors):
            return list(zip(names, tensors))
    try:
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
        items = list(bound.arguments.items())
    except (TypeError, ValueError):
        items = [(f"arg_{k}", a) for k, a in enumerate(args)] + list(kwargs.items())
    out = []
    for name, value in items:
        leaves, _ = tree_flatten(value)
        tensors = [v for v in leaves if isinstance(v, Tensor)]
        out += [(name if len(tensors) == 1 else f"{name}_{k}", t) for k, t in enumerate(tensors)]
    return out


__all__ = ["Tracer"]
