"""Values derived from input shapes that Python read while ``jit.trace`` recorded.

With symbolic shapes, ``x.shape`` in a traced function is a Tensor read by
``GetVarShape``, so a dumped graph follows the input size. But where Python reads such a
value (``int(x.shape[1])``, ``x.shape[0].item()``, ``bool(x.shape[0] > 4)``,
``range(x.shape[1])``), what is built from it is a constant of the traced value. MegEngine
bakes it silently; ``trace.dump`` instead guards every such read: each output becomes
``VirtualDep(output, AssertEqual(traced value, read var), ...)``, which real MegEngine
loads and runs, and which fails (naming the read, in mge) at an input size that changes
the value. Reads of values that depend on input *data* (``float(loss)``) stay baked, as
in MegEngine; reads that an op also takes as a graph input (the shape input of
``Reshape``/``Broadcast``, see :func:`mge.core.tracing.cover_value_reads`) bake nothing.

Example:
    >>> @trace(symbolic=True, capture_as_const=True)          # doctest: +SKIP
    ... def f(x):
    ...     return x * int(x.shape[1])
    >>> f(mge.tensor(np.ones((2, 3))))                        # doctest: +SKIP
    >>> f.dump("f.mge")   # at a 2x5 input, mge.lite raises ShapeReadError, naming x.shape[1]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.opdef import OpDef
from ..graph.ir import Graph, VarNode
from ..ops.elemwise import TypeCvt
from ..ops.shape import GetVarShape, Subtensor
from ..ops.utility import READ_SUFFIX, AssertEqual, VirtualDep
from .trace_check import TensorVars, excluded

_FLOAT32 = np.dtype("float32")


@dataclasses.dataclass(frozen=True)
class ShapeRead:
    """One Python read: the var read, its value while tracing, and how it was read."""

    var: VarNode
    value: np.ndarray
    how: str


class ShapeReadLog:
    """The ``jit.trace`` recorder's :class:`~mge.core.tracing.ValueReadObserver`: which
    vars are shape-derived (computed from ``GetVarShape`` of input-dependent vars and
    constants only), and which of them Python read."""

    def __init__(self, tensors: TensorVars) -> None:
        self.tensors = tensors
        self.shape_vars: set[int] = set()
        self.reads: list[ShapeRead] = []

    def on_op(self, op: OpDef, in_ids: Sequence[int], out_ids: Sequence[int],
              valued: bool, from_values: set[int]) -> None:
        """Mark the outputs of a recorded op shape-derived where they are: a
        ``GetVarShape`` of an input-dependent var, or an op on shape-derived vars and
        constants only (``valued``: some input depends on input data)."""
        if valued:
            return
        depends = any(i in from_values or i in self.shape_vars for i in in_ids) \
            if isinstance(op, GetVarShape) else any(i in self.shape_vars for i in in_ids)
        if depends:
            self.shape_vars.update(out_ids)

    def read(self, tensor: Any, what: str) -> None:
        if what == "repr()" or excluded():
            return
        var = self.tensors.get(tensor)
        if var is not None and var.id in self.shape_vars:
            self.reads.append(ShapeRead(var, tensor._host_copy(), what))

    def cover(self, tensor: Any) -> None:
        var = self.tensors.get(tensor)
        for k in range(len(self.reads) - 1, -1, -1):
            if var is not None and self.reads[k].var is var:
                del self.reads[k]
                return


def describe(var: VarNode) -> str:
    """How user code wrote ``var``: ``x.shape[1]``, ``x.shape``, or a description."""
    node = var.owner
    if node is not None and isinstance(node.op, Subtensor) and len(node.op.items) == 1:
        axis, begin, end, step, index = node.op.items[0]
        if axis == 0 and (begin, end, step) == (None, None, None) and isinstance(index, int):
            source = describe(node.inputs[0])
            if source.endswith(".shape"):
                return f"{source}[{index}]"
    if node is not None and isinstance(node.op, GetVarShape) and node.inputs[0].is_input:
        return f"{node.inputs[0].name}.shape"
    inputs = sorted({v.name for v in _ancestors(var) if v.is_input})
    return f"a value computed from the shape of {', '.join(inputs) or 'an input'}"


def _ancestors(var: VarNode) -> list[VarNode]:
    seen: dict[int, VarNode] = {}
    stack = [var]
    while stack:
        v = stack.pop()
        if v.id in seen:
            continue
        seen[v.id] = v
        if v.owner is not None:
            stack.extend(v.owner.inputs)
    return list(seen.values())


def _read_vars(reads: Sequence[ShapeRead]) -> list[VarNode]:
    return list({id(r.var): r.var for r in reads}.values())


def copy_with_reads(graph: Graph, reads: Sequence[ShapeRead]) -> Graph:
    """A copy of ``graph`` whose outputs are followed by the distinct vars ``reads`` read
    (unused by the outputs, maybe: ``int(x.shape[1])`` made a constant)."""
    saved = graph.outputs
    graph.outputs = [*saved, *_read_vars(reads)]
    try:
        return graph.copy()
    finally:
        graph.outputs = saved


def split_reads(graph: Graph, reads: Sequence[ShapeRead]) -> dict[int, VarNode]:
    """Undo :func:`copy_with_reads` on ``graph`` (in place); the read vars by their id."""
    read_vars = _read_vars(reads)
    n = len(graph.outputs) - len(read_vars)
    found = {r.id: v for r, v in zip(read_vars, graph.outputs[n:], strict=True)}
    graph.outputs = graph.outputs[:n]
    return found


def add_guards(graph: Graph, reads: Sequence[ShapeRead], read_vars: dict[int, VarNode]
               ) -> Graph:
    """``graph`` (changed in place) with each output made ``VirtualDep`` on an
    ``AssertEqual(traced value, read var)`` per distinct read (``read_vars``: the graph's
    vars by the recording's var ids); the outputs keep their names. A read var folded to
    a constant needs no guard."""
    checks: list[VarNode] = []
    done: set[tuple[int, bytes]] = set()
    for read in reads:
        var = read_vars[read.var.id]
        key = (read.var.id, np.asarray(read.value).tobytes())
        if var.is_const or key in done:
            continue
        done.add(key)
        what = describe(var)
        get = var if var.dtype == _FLOAT32 else graph.add_op(TypeCvt(dtype="float32"),
                                                             [var])[0]
        expect = graph.add_const(np.asarray(read.value, _FLOAT32).reshape(var.shape),
                                 name=what + READ_SUFFIX)
        # float32 (exact for shape values): MegEngine computes an int check's error in
        # integer division, which would pass 3 against 5
        checks += graph.add_op(AssertEqual(maxerr=0.0, read=what), [expect, get])
    if not checks:
        return graph
    names = [out.name for out in graph.outputs]
    guarded = []
    for out, name in zip(graph.outputs, names, strict=True):
        (dep,) = graph.add_op(VirtualDep(), [out, *checks])
        dep.name = name
        if not out.is_input:
            out.name = ""  # the file names the guarded output, as the function's output
        guarded.append(dep)
    graph.outputs = guarded
    return graph


__all__ = ["ShapeRead", "ShapeReadLog", "add_guards", "copy_with_reads", "describe",
           "split_reads"]
