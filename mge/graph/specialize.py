"""Rebuild a graph for new input shapes.

A loaded graph has static shapes: the ones it was dumped with. :func:`specialize` replays
it for other input shapes, re-running every op's ``infer`` rule. A static shape param
computed in the graph (a ``Reshape`` target from a ``GetVarShape`` chain, kept as the
op's source input: :mod:`mge.graph.static_values`) is recomputed for the new shapes,
and the result holds the static op without that input; other static params that follow
the batch are rewritten by the op's own ``with_batch`` rule (a ``Reshape`` or
``Broadcast`` whose target starts with the old batch size); any other mismatch raises
:class:`ShapeError` naming the input, both shapes and the op that fails.

Constants are shared with the source graph (same ``ConstOp`` objects and arrays), so
prepared weights stay valid across rebuilt graphs.

Example:
    >>> from mge.graph import Graph
    >>> from mge.ops import Elemwise, Reshape
    >>> g = Graph()
    >>> x = g.add_input("x", (1, 4), "float32")
    >>> (r,) = g.add_op(Reshape(shape=(1, 2, 2)), [x])
    >>> g.outputs = g.add_op(Elemwise(mode="RELU"), [r])
    >>> specialize(g, {"x": (3, 4)}).outputs[0].shape
    (3, 2, 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..core.opdef import OpDef, OpError, TensorInfo
from ..ops.shape.shape import GetVarShape
from ..ops.utility import AssertEqual, VirtualDep
from .ir import ConstOp, Graph, GraphError, Host2DeviceCopy, OpNode, VarNode
from .static_values import fold_values, source_count


class ShapeError(ValueError):
    """The graph cannot run with the given input shapes; names the input and the op."""


def _infos(vars_: Sequence[VarNode]) -> list[TensorInfo]:
    return [TensorInfo(v.shape, v.dtype) for v in vars_]


def _static_op(node_op: OpDef, inputs: list[VarNode], known: dict[int, np.ndarray]
               ) -> tuple[OpDef, list[VarNode]]:
    """``node_op`` with its source inputs' values as its params, and its other inputs."""
    n = source_count(node_op, len(inputs))
    values = [v.value if v.is_const else known.get(v.id) for v in inputs[len(inputs) - n:]]
    if any(v is None for v in values):
        raise ShapeError(f"{node_op.type_name}: its shape input is not known before running "
                         "(it depends on input data, not on input shapes)")
    try:
        return node_op.with_sources(values), inputs[:len(inputs) - n]  # type: ignore[attr-defined]
    except OpError as exc:
        raise ShapeError(str(exc)) from None


def _replay(graph: Graph, input_types: Mapping[str, tuple[tuple[int, ...], np.dtype]]
            ) -> Graph:
    new = Graph()
    vmap: dict[int, VarNode] = {}
    known: dict[int, np.ndarray] = {}  # new var id -> value computed while building
    for var in graph.inputs:
        shape, dtype = input_types.get(var.name, (var.shape, var.dtype))
        vmap[var.id] = new.add_input(var.name, shape, dtype)
    changed = {n: t for n, t in input_types.items()
               if t != (graph_input(graph, n).shape, graph_input(graph, n).dtype)}
    # checks first: a guard of a value read while tracing names the read (ShapeReadError)
    # before an op built from that value fails on the new shapes
    checks = [n.outputs[0] for n in graph.ops() if isinstance(n.op, AssertEqual)]
    order = graph.ops(list(graph.inputs) + checks + list(graph.outputs))
    wanted = _values_wanted(order)
    for node in order:
        if isinstance(node.op, Host2DeviceCopy):
            continue
        if isinstance(node.op, ConstOp):
            vmap[node.outputs[0].id] = new.add_const(node.op, name=node.outputs[0].name)
            continue
        inputs = [vmap[v.id] for v in node.inputs]
        if isinstance(node.op, AssertEqual) and _checked_now(node.op, inputs, known):
            vmap[node.outputs[0].id] = inputs[0]  # passed: its expect, and no dead op
            continue
        if _checked_dep(node.op, inputs, known):
            inputs = inputs[:1]  # its checks ran while planning: nothing left to order
        if source_count(node.op, len(inputs)):
            op, inputs = _static_op(node.op, inputs, known)
        elif _same_types(node.inputs, inputs):
            op = node.op  # inputs as in the source graph: no batch to follow
        else:
            op = node.op.with_batch(_infos(node.inputs), _infos(inputs))
        try:
            outs = new.add_op(op, inputs, name=node.name, infos=_kept_infos(node, op, inputs))
            if node.id in wanted:
                values = fold_values(op, [TensorInfo(v.shape, v.dtype, v.value if v.is_const
                                                     else known.get(v.id)) for v in inputs])
                known.update((v.id, k) for v, k in zip(outs, values, strict=True)
                             if k is not None)
        except (OpError, GraphError) as exc:
            what = ", ".join(f"input {n!r}: expected shape {graph_input(graph, n).shape}, "
                             f"got {tuple(s)}" for n, (s, _) in changed.items())
            raise ShapeError(f"{what or 'the graph'}: {node.type} cannot take it: {exc}") \
                from None
        for old, var in zip(node.outputs, outs, strict=True):
            var.name = old.name
            vmap[old.id] = var
    new.outputs = [vmap[old.id] for old in graph.outputs]
    return new


def _same_types(old: Sequence[VarNode], new: Sequence[VarNode]) -> bool:
    """Whether ``new`` are as many vars as ``old``, each of the same shape and dtype."""
    return len(old) == len(new) and all(
        a.shape == b.shape and a.dtype == b.dtype for a, b in zip(old, new, strict=True))


def _kept_infos(node: OpNode, op: OpDef, inputs: Sequence[VarNode]
                ) -> list[TensorInfo] | None:
    """The output infos of ``node`` when the replay applies the same ``op`` to inputs
    of the same types (shape, dtype, constant or not) as the source graph's: the ones
    ``infer`` gave it there (``None``: infer them again). At a graph's own input shapes
    (the plan of a model that follows input sizes) that is most ops."""
    if op is not node.op or not _same_types(node.inputs, inputs) or any(
            old.is_const != new.is_const for old, new in zip(node.inputs, inputs, strict=True)):
        return None
    return _infos(node.outputs)


def _values_wanted(order: Sequence[OpNode]) -> set[int]:
    """The ids of the ops whose values the replay folds: the ops computing a var whose
    value it may read while planning (a source input, a check's input, a dependency of a
    ``VirtualDep``) or one such a var is computed from, up to ``GetVarShape``, which
    needs only shapes. The other ops (in a graph that follows input sizes, most of them)
    need no values."""
    wanted: set[int] = set()
    ops: set[int] = set()
    for node in reversed(order):
        n = len(node.inputs)
        if any(v.id in wanted for v in node.outputs):
            ops.add(node.id)
            if not isinstance(node.op, GetVarShape):  # its value is its input's shape
                wanted.update(v.id for v in node.inputs)
        elif isinstance(node.op, AssertEqual):
            wanted.update(v.id for v in node.inputs)
        elif isinstance(node.op, VirtualDep):
            wanted.update(v.id for v in node.inputs[1:])
        elif source_count(node.op, n):
            wanted.update(v.id for v in node.inputs[n - source_count(node.op, n):])
    return ops


def _checked_now(op: AssertEqual, inputs: Sequence[VarNode], known: Mapping[int, np.ndarray]
                 ) -> bool:
    """Run a check whose inputs are known while planning (a guard of a value read while
    tracing: ``ShapeReadError`` when it fails); whether it ran, so that the plan needs
    no node for it."""
    infos = [TensorInfo(v.shape, v.dtype, v.value if v.is_const else known.get(v.id))
             for v in inputs]
    if any(i.value is None for i in infos):
        return False
    try:
        return fold_values(op, infos)[0] is not None  # the kernel raises when it fails
    except OpError:
        return False  # the replay names the shapes


def _checked_dep(op: OpDef, inputs: Sequence[VarNode], known: Mapping[int, np.ndarray]
                 ) -> bool:
    """Whether ``op`` is a ``VirtualDep`` whose dependencies were all computed while
    planning (the shape-only guards of values read while tracing: they passed, or planning
    raised), so the plan needs none of the checks (which no ONNX engine could run)."""
    return isinstance(op, VirtualDep) and len(inputs) > 1 \
        and all(v.is_const or v.id in known for v in inputs[1:])


def graph_input(graph: Graph, name: str) -> VarNode:
    """The input var called ``name``; ``KeyError`` listing the input names otherwise."""
    for var in graph.inputs:
        if var.name == name:
            return var
    names = [v.name for v in graph.inputs]
    raise KeyError(f"the graph has no input {name!r}; its inputs are {names}")


def has_sources(graph: Graph) -> bool:
    """Whether some op of ``graph`` reads a static param from a source input (the graph
    follows input sizes), or orders outputs after checks (``VirtualDep``: the guards of
    values read while tracing): :func:`specialize` makes it static and checks them."""
    return any(source_count(node.op, len(node.inputs)) or isinstance(node.op, VirtualDep)
               for node in graph.ops())


def specialize(graph: Graph, shapes: Mapping[str, Sequence[int]]) -> Graph:
    """A static copy of ``graph`` for the given input shapes (inputs not named keep theirs).

    Raises:
        KeyError: a name that is not a graph input.
        ShapeError: some op cannot take the new shapes (names the input, both shapes
            and the op).
    """
    types = {}
    for name, shape in shapes.items():
        var = graph_input(graph, name)
        types[name] = (tuple(int(d) for d in shape), var.dtype)
    return _replay(graph, types)


__all__ = ["ShapeError", "graph_input", "has_sources", "specialize"]
