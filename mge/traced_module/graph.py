"""``InternalGraph``: the editable recorded forward of a TracedModule.

Query exprs and nodes with filters, edit with ``insert_exprs``/``replace_node``, clean up
with ``compile``, check with ``lint`` and run with ``eval``.

Example:
    >>> graph = traced.graph  # doctest: +SKIP
    >>> relu = graph.get_function_by_type(F.relu).as_list()[0]
    >>> with graph.insert_exprs():
    ...     neg = F.neg(relu.outputs[0])
    >>> graph.replace_node({relu.outputs[0]: neg})
    >>> graph.compile()
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..core.tracing import call_tracer
from .expr import CallFunction, CallMethod, Expr, GetAttr, Input, get_attr_path
from .filters import ExprFilter, NodeFilter
from .insert import InsertTracer
from .node import ModuleNode, Node, TensorNode
from .pytree import TreeDef, tree_flatten


class GraphError(ValueError):
    """An invalid graph edit or a graph that fails ``lint``."""


class NameTakenError(GraphError, AssertionError):
    """Renaming a node to a name another node of the graph has (MegEngine raises an
    ``AssertionError`` there; it is one, and a ``GraphError``)."""


class NameSpace:
    """Unique node names within one graph."""

    def __init__(self) -> None:
        self.used: dict[str, Node] = {}

    @property
    def used_names(self) -> dict[str, Node]:
        """The names in use (MegEngine's ``NameSpace.used_names``)."""
        return self.used

    def create(self, base: str, node: Node) -> str:
        base = re.sub(r"\W", "_", base) or "node"
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used[name] = node
        return name

    def rename(self, node: Node, new_name: str) -> None:
        if not new_name.isidentifier():
            raise GraphError(f"invalid node name {new_name!r}: use a Python identifier")
        owner = self.used.get(new_name)
        if owner is not None and owner is not node:
            raise NameTakenError(f"node name {new_name!r} is already used in this graph")
        self.used.pop(node._name, None)
        node._name = new_name
        self.used[new_name] = node


class InternalGraph:
    """A recorded forward: ``inputs`` (``self`` first), ``exprs`` in order, ``outputs``."""

    def __init__(self, name: str, qualname: str) -> None:
        self._name = name
        self._qualname = qualname
        self._exprs: list[Expr] = []
        self._inputs: list[Node] = []
        self._outputs: list[Node] = []
        self._out_def: TreeDef | None = None
        self._arg_def: TreeDef | None = None
        self._namespace = NameSpace()
        self._owner: Any = None  # the TracedModule whose graph this is

    # ------------------------------------------------------------------ building
    def _add_node(self, node: Node, base: str) -> Node:
        node._name = self._namespace.create(base, node)
        node.graph = self
        return node

    def _add_input(self, node: Node, base: str) -> Node:
        """Add an argument; its ``Input`` expr is the node's producer but, as in MegEngine,
        not one of the graph's ``_exprs``."""
        self._add_node(node, base)
        Input(node)._top_graph = self
        self._inputs.append(node)
        return node

    def _append(self, expr: Expr) -> Expr:
        expr._top_graph = self
        self._exprs.append(expr)
        return expr

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        """The graph's name (its module's class name; ``get_node_by_name`` matches
        ``<graph name>_<node name>``)."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def qualname(self) -> str:
        return self._qualname

    @property
    def inputs(self) -> list[Node]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[Node]:
        return list(self._outputs)

    @property
    def top_graph(self) -> InternalGraph:
        return self

    def _resolve_module(self, node: ModuleNode) -> Any:
        if self._inputs and node is self._inputs[0]:
            return self._owner
        expr = node.expr
        if isinstance(expr, GetAttr):
            return get_attr_path(self._resolve_module(expr.inputs[0]), expr.name)
        raise GraphError(f"cannot resolve the module of {node}")

    # ------------------------------------------------------------------ queries
    def _iter_exprs(self, recursive: bool) -> Iterator[Expr]:
        for expr in self._exprs:
            yield expr
            if recursive:
                for sub in subgraphs(expr):
                    yield from sub._iter_exprs(True)

    def _iter_nodes(self, recursive: bool) -> Iterator[Node]:
        seen: set[int] = set()
        graphs = [self]
        if recursive:
            graphs += [g for e in self._iter_exprs(True) for g in subgraphs(e)]
        for g in graphs:
            for node in g._inputs + [o for e in g._exprs for o in e.outputs]:
                if id(node) not in seen:
                    seen.add(id(node))
                    yield node

    def exprs(self, recursive: bool = True) -> ExprFilter:
        """All exprs (``recursive``: also those of traced submodules' graphs)."""
        return ExprFilter(lambda: self._iter_exprs(recursive))

    def nodes(self, recursive: bool = True) -> NodeFilter:
        """All nodes (``recursive``: also those of traced submodules' graphs)."""
        return NodeFilter(lambda: self._iter_nodes(recursive))

    def get_function_by_type(self, func: Callable | None = None,
                             recursive: bool = True) -> ExprFilter:
        """``CallFunction`` exprs calling ``func`` (e.g. ``F.relu``); all if None."""
        return self.exprs(recursive).call_function(func)

    def get_method_by_type(self, method: str | None = None, recursive: bool = True) -> ExprFilter:
        """``CallMethod`` exprs for ``method`` (e.g. ``"__add__"``, ``"reshape"``)."""
        return self.exprs(recursive).call_method(method)

    def get_expr_by_id(self, expr_id: int | Sequence[int] | None = None,
                       recursive: bool = True) -> ExprFilter:
        return self.exprs(recursive).expr_id(expr_id)

    def get_module_by_type(self, module_cls: type, recursive: bool = True) -> NodeFilter:
        """ModuleNodes of modules of ``module_cls`` (their ``.owner`` is the module)."""
        return self.nodes(recursive).type(module_cls)

    def get_node_by_id(self, node_id: int | Sequence[int] | None = None,
                       recursive: bool = True) -> NodeFilter:
        return self.nodes(recursive).node_id(node_id)

    def get_node_by_name(self, name: str | None = None, ignorecase: bool = True,
                         recursive: bool = True) -> NodeFilter:
        """Nodes whose name (or qualified name) matches the glob pattern ``name``."""
        return self.nodes(recursive).name(name, ignorecase)

    def get_dep_exprs(self, nodes: Node | Sequence[Node]) -> list[Expr]:
        """The exprs of this graph that ``nodes`` depend on, in graph order."""
        nodes = [nodes] if isinstance(nodes, Node) else list(nodes)
        needed: set[int] = set()
        stack = [n.expr for n in nodes if n.expr is not None]
        while stack:
            expr = stack.pop()
            if id(expr) in needed:
                continue
            needed.add(id(expr))
            stack += [n.expr for n in expr.inputs if n.expr is not None]
        return [e for e in self._exprs if id(e) in needed]

    # ------------------------------------------------------------------ surgery
    @contextlib.contextmanager
    def insert_exprs(self, expr: Expr | None = None) -> Iterator[InternalGraph]:
        """Record F/M/Tensor calls on this graph's nodes as new exprs.

        The new exprs go right after ``expr`` if given, else right after the last expr
        that produces one of their inputs.
        """
        if expr is not None and expr not in self._exprs:
            raise GraphError(f"{expr!r} is not in graph {self._name}")
        tracer = InsertTracer(self)
        with call_tracer(tracer):
            yield self
        self._place(tracer.new_exprs, expr)
        self._number(tracer.new_exprs)

    def _reset_ids(self) -> None:
        """Renumber this (top) graph's nodes and exprs from 0 (MegEngine's)."""
        renumber([self])

    def _number(self, exprs: list[Expr]) -> None:
        """Give inserted exprs and their outputs the top graph's next free ids."""
        source = getattr(self, "_id_source", None) or self
        total = getattr(source, "_total_ids", None)
        if total is None:
            return
        node_id, expr_id = total
        for e in exprs:
            e._id, expr_id = expr_id, expr_id + 1
            for node in e.outputs:
                node._id, node_id = node_id, node_id + 1
        source._total_ids = (node_id, expr_id)

    def _place(self, new: list[Expr], after: Expr | None) -> None:
        for e in new:
            self._exprs.remove(e)
        index = {id(e): k for k, e in enumerate(self._exprs)}
        new_ids = {id(e) for e in new}
        producers = [index[id(n.expr)] for e in new for n in e.inputs
                     if n.expr is not None and id(n.expr) not in new_ids and id(n.expr) in index]
        pos = max(producers, default=-1)
        if after is not None:
            pos = max(pos, index[id(after)])
        self._exprs[pos + 1:pos + 1] = new

    def replace_node(self, repl_dict: dict[Node, Node]) -> None:
        """Make the users of each old node (after the new node exists) use the new one.

        Users placed before the new node keep the old one if the outputs do not depend on
        them (``compile`` drops them); a live one is refused."""
        for old, new in repl_dict.items():
            if old.graph is not self or new.graph is not self:
                raise GraphError(f"replace_node: {old} and {new} must both belong to {self._name}")
            if isinstance(old, TensorNode) != isinstance(new, TensorNode):
                raise GraphError(f"replace_node: cannot replace {old} by {new} of another kind")
            order = {id(e): k for k, e in enumerate(self._exprs)}
            born = order.get(id(new.expr), -1)
            deps = {id(e) for e in self.get_dep_exprs(new)}
            live = {id(e) for e in self.get_dep_exprs(self._outputs)}
            for user in list(old.users):
                if id(user) in deps:
                    continue
                if order.get(id(user), -1) <= born:
                    if id(user) not in live:  # dead (compile drops it): keeps ``old``
                        continue
                    raise GraphError(
                        f"replace_node: {user!r} uses {old} before {new} is computed; "
                        "rewiring it would leave a dangling node"
                    )
                user.replace_input(old, new)
            self._outputs = [new if o is old else o for o in self._outputs]

    def compile(self) -> InternalGraph:
        """Remove exprs that the outputs do not depend on; returns the graph."""
        keep = {id(e) for e in self.get_dep_exprs(self._outputs)}
        for expr in self._exprs:
            if id(expr) not in keep:
                for node in expr.inputs:
                    if expr in node.users:
                        node.users.remove(expr)
                for node in expr.outputs:
                    self._namespace.used.pop(node._name, None)
        self._exprs = [e for e in self._exprs if id(e) in keep]
        return self

    def add_input_node(self, shape: Sequence[int], dtype: Any = "float32",
                       name: str = "args") -> TensorNode:
        """Append a tensor argument to the top graph's forward; returns its node."""
        if self._owner is None or not getattr(self._owner, "is_top", False):
            raise GraphError("add_input_node is only allowed on the top graph")
        node = TensorNode(None, name, shape=tuple(shape), dtype=np.dtype(dtype))
        self._add_input(node, name)
        self._owner._rebind_graph(self)
        return node

    def add_output_node(self, node: TensorNode) -> None:
        """Also return ``node`` (the outputs become a tuple)."""
        self._check_owned(node)
        outs = self._out_def.unflatten(self._outputs) if self._out_def else tuple(self._outputs)
        outs = (*outs, node) if isinstance(outs, tuple) else (outs, node)
        self.reset_outputs(outs)

    def reset_outputs(self, outputs: Any) -> None:
        """Replace the outputs by ``outputs`` (a node or a nested structure of nodes)."""
        leaves, out_def = tree_flatten(outputs)
        for leaf in leaves:
            if not isinstance(leaf, Node):
                raise GraphError(f"reset_outputs: {leaf!r} is not a node of {self._name}")
            self._check_owned(leaf)
        self._outputs, self._out_def = leaves, out_def
        if self._owner is not None:
            self._owner._rebind_graph(self)

    def _check_owned(self, node: Node) -> None:
        if node.graph is not self:
            raise GraphError(f"{node} does not belong to graph {self._name}")

    # ------------------------------------------------------------------ running
    def interpret(self, *inputs: Any) -> list[Any]:
        """Run the exprs on input values (``self`` first); returns the output values."""
        if len(inputs) != len(self._inputs):
            raise TypeError(f"{self._name} takes {len(self._inputs)} inputs, got {len(inputs)}")
        env = {id(n): v for n, v in zip(self._inputs, inputs)}
        for expr in self._exprs:
            try:
                values = [env[id(n)] for n in expr.inputs]
            except KeyError as exc:
                raise GraphError(f"{expr!r} uses a node that is not computed before it") from exc
            for node, value in zip(expr.outputs, expr.interpret(*values)):
                env[id(node)] = value
        return [env[id(n)] for n in self._outputs]

    def eval(self, *inputs: Any) -> Any:
        """Run the graph on tensors (without ``self``); returns outputs as traced."""
        outs = self.interpret(self._owner, *inputs)
        return self._out_def.unflatten(outs) if self._out_def is not None else outs

    # ------------------------------------------------------------------ checking
    def lint(self) -> None:
        """Check topology: every used node is defined before use, users lists agree."""
        defined = {id(n) for n in self._inputs}
        for expr in self._exprs:
            for node in expr.inputs:
                if id(node) not in defined:
                    raise GraphError(f"{expr!r} uses {node} before it is defined")
                if expr not in node.users:
                    raise GraphError(f"{node}.users misses {expr!r}")
            defined |= {id(o) for o in expr.outputs}
        for out in self._outputs:
            if id(out) not in defined:
                raise GraphError(f"output {out} is not computed by graph {self._name}")
        live = {id(e) for e in self._exprs}
        for expr in self._exprs:
            for node in expr.outputs:
                for user in node.users:
                    if id(user) not in live:
                        raise GraphError(f"{node} has a user that is not in the graph: {user!r}")
        for sub in {id(g): g for e in self._exprs for g in subgraphs(e)}.values():
            sub.lint()

    def __deepcopy__(self, memo: dict) -> InternalGraph:
        # The owner is copied only as part of copying it (memo); else it is shared.
        memo.setdefault(id(self._owner), self._owner)
        new = InternalGraph.__new__(InternalGraph)
        memo[id(self)] = new
        new.__setstate__({k: copy.deepcopy(v, memo) for k, v in self.__dict__.items()})
        return new

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._relink()

    def _relink(self) -> None:
        """Rebuild each node's producer and users from the exprs (not stored in nodes);
        graphs pickled with their ``Input`` exprs among ``_exprs`` lose them there."""
        self._exprs = [e for e in self._exprs if not isinstance(e, Input)]
        for node in self._inputs:
            if not isinstance(node.expr, Input):
                Input(node)._top_graph = self
        for expr in self._exprs:
            for node in expr.outputs:
                node.expr = expr
            for node in expr.inputs:
                node.users.append(expr)

    def __repr__(self) -> str:
        body = "\n\t".join(repr(e) for e in self._exprs)
        ins = ", ".join(repr(i) for i in self._inputs)
        outs = ", ".join(repr(o) for o in self._outputs)
        return f"{self._name}.Graph ({ins}) {{\n\t{body}\n\treturn {outs}\n}}"


def renumber(tops: list[InternalGraph]) -> None:
    """Give exprs and nodes small sequential ids in graph order (for get_*_by_id); the
    top graphs keep the next free ids in ``_total_ids`` (MegEngine), where every graph
    below takes ids for inserted exprs (``_id_source``)."""
    expr_id = node_id = 0
    seen_exprs: set[int] = set()
    seen_nodes: set[int] = set()

    def number(node: Any) -> None:
        nonlocal node_id
        if id(node) not in seen_nodes:
            seen_nodes.add(id(node))
            node._id, node_id = node_id, node_id + 1

    for graph in tops:
        for node in graph._inputs:
            number(node)
        for expr in graph.exprs(recursive=True):
            if id(expr) in seen_exprs:
                continue
            seen_exprs.add(id(expr))
            expr._id, expr_id = expr_id, expr_id + 1
            for node in expr.outputs:
                number(node)
    for graph in tops:
        for node in graph.nodes(recursive=True):  # subgraph inputs
            number(node)
    for graph in tops:
        graph._total_ids = (node_id, expr_id)
        for expr in graph.exprs(recursive=True):
            for sub in subgraphs(expr):
                sub._id_source = tops[0]
        if graph is not tops[0]:
            graph._id_source = tops[0]


def subgraphs(expr: Expr) -> list[InternalGraph]:
    """Graphs of the traced module a ``CallMethod(__call__)`` expr calls into."""
    if not (isinstance(expr, CallMethod) and expr.method == "__call__"):
        return []
    target = expr.inputs[0] if expr.inputs else None
    if not isinstance(target, ModuleNode) or target.graph is None:
        return []
    try:
        module = target.owner
    except Exception:  # noqa: BLE001 - an unresolved module simply has no subgraph
        return []
    graphs = getattr(module, "argdef_graph_map", None)
    return list(graphs.values()) if graphs else []


__all__ = ["CallFunction", "GraphError", "InternalGraph"]
