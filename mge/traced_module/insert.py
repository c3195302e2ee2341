"""``InsertTracer``: records calls on an existing graph's nodes (``graph.insert_exprs()``).

Each call runs on sample tensors (zeros of the node's shape and dtype) to learn its
outputs' shapes; the new exprs are appended to the graph, which then places them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.tracing import call_tracer
from ..module import Module
from ..tensor import Tensor
from .expr import CallMethod, Constant, Expr, GetAttr, get_attr_path
from .node import ModuleNode, Node, TensorNode
from .pytree import tree_flatten
from .recording import (
    Recorder,
    TraceError,
    attr_paths,
    call_expr,
    class_name,
    is_builtin,
    out_base,
    sample,
)


class InsertTracer(Recorder):
    """Records calls on an existing graph's nodes (``graph.insert_exprs()``)."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.new_exprs: list[Expr] = []

    def call(self, fn: Callable, public: Callable, args: tuple, kwargs: dict) -> Any:
        where = f"{public.__name__}()"
        node_args, node_kwargs = self._args_to_nodes(args, kwargs, where)
        sample_args, sample_kwargs = self._samples(node_args, node_kwargs)
        with call_tracer(None):
            out = fn(*sample_args, **sample_kwargs)
        return self._record(call_expr(public, args, node_args, node_kwargs), out,
                            out_base(public))

    def call_module(self, module: Any, run: Callable, args: tuple, kwargs: dict) -> Any:
        mnode = self._module_node(module)
        node_args, node_kwargs = self._args_to_nodes(args, kwargs, f"{mnode.name}()")
        sample_args, sample_kwargs = self._samples(node_args, node_kwargs)
        if not is_builtin(module) and not hasattr(module, "argdef_graph_map"):
            module = self._trace_in_place(mnode, module, sample_args, sample_kwargs)
            run = module
        with call_tracer(None):
            out = run(*sample_args, **sample_kwargs)
        expr = CallMethod(mnode)
        expr.set_args_kwargs(mnode, *node_args, **node_kwargs)
        return self._record(expr, out, f"{mnode.name}_out")

    def _record(self, expr: Expr, out: Any, base: str) -> Any:
        self.graph._append(expr)
        self.new_exprs.append(expr)

        def make(value: Any) -> TensorNode | None:
            if not isinstance(value, Tensor):
                return None
            node = TensorNode(None, base, value.shape, value.dtype, value.device)
            self.graph._add_node(node, base)
            return node

        return expr.set_outputs(out, make)

    def _samples(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        leaves, tree = tree_flatten((args, kwargs))
        return tree.unflatten([sample(v) if isinstance(v, TensorNode) else
                               (v.owner if isinstance(v, ModuleNode) else v) for v in leaves])

    def _node_for(self, value: Any, where: str) -> Any:
        if isinstance(value, Node):
            if value.graph is not self.graph:
                raise TraceError(f"{where}: {value} belongs to another graph")
            return value
        if isinstance(value, Tensor):
            return self.constant(value, "const_tensor")
        if isinstance(value, Module):
            return self._module_node(value)
        return self._check_plain(value, where)

    def constant(self, value: Tensor, name: str) -> TensorNode:
        """A new Constant expr holding ``value``; returns its node."""
        node = TensorNode(None, name, value.shape, value.dtype, value.device)
        self.graph._add_node(node, name)
        expr = Constant(value, node)
        self.graph._append(expr)
        self.new_exprs.append(expr)
        return node

    def _trace_in_place(self, mnode: ModuleNode, module: Any, args: tuple,
                        kwargs: dict) -> Any:
        """Trace a user module inserted into the graph (as MegEngine does) and put the
        TracedModule where the module was."""
        traced = self.graph._owner._trace_child(module, args, kwargs)
        path = mnode.expr.name
        parent, _, last = path.rpartition(".")
        setattr(get_attr_path(self.graph._owner, parent) if parent else self.graph._owner,
                last, traced)
        mnode.module_type = class_name(traced)
        return traced

    def getattr_node(self, mnode: ModuleNode, name: str) -> Any:
        """``mnode.name`` inside ``insert_exprs``: a GetAttr node for a submodule or tensor
        attribute; other attribute values are returned as they are."""
        value = getattr(mnode.owner, name)
        if not isinstance(value, (Module, Tensor)):
            return value
        prefix = "" if mnode is self.graph._inputs[0] else f"{mnode.expr.name}."
        return self._getattr(prefix + name, value)

    def _module_node(self, module: Any) -> ModuleNode:
        """A ModuleNode for ``module``, attaching it to the graph's owner if it is new."""
        owner = self.graph._owner
        for node in self.graph.nodes(recursive=False):
            if isinstance(node, ModuleNode) and node.owner is module:
                return node
        paths = attr_paths(owner)
        path = paths.get(id(module))
        if path is None:
            base = type(module).__name__.lower()
            path, k = base, 0
            while hasattr(owner, path):
                k += 1
                path = f"{base}_{k}"
            setattr(owner, path, module)
        return self._getattr(path, module)

    def _getattr(self, path: str, value: Any) -> Node:
        """The node of ``self.<path>``: an existing GetAttr's, else a new GetAttr expr's."""
        for expr in self.graph._exprs:
            if isinstance(expr, GetAttr) and expr.name == path and \
                    expr.inputs[0] is self.graph._inputs[0]:
                return expr.outputs[0]
        if isinstance(value, Module):
            mtype = type(value) if is_builtin(value) else class_name(value)
            node: Node = ModuleNode(None, path.replace(".", "_"), mtype)
        else:
            node = TensorNode(None, path.replace(".", "_"), value.shape, value.dtype,
                              value.device)
        self.graph._add_node(node, node.name)
        expr = GetAttr(self.graph._inputs[0], path)
        expr.outputs = [node]
        node.expr = expr
        self.graph._append(expr)
        self.new_exprs.append(expr)
        return node


__all__ = ["InsertTracer"]
