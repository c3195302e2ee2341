"""Operator and var names of a recorded graph, as MegEngine 1.13's ``AutoNaming`` gives them.

While a trace records, module calls push a scope: the module's ``name`` if it has one,
else its attribute name in its parent (the module called first, the top module, adds no
scope). Each op is named ``<scope>.<op name>``: an ``Elemwise`` by its mode (``ADD``),
other ops by their type without ``Forward`` (``Convolution``, ``Pooling``, ``Softmax``).
Names used by several ops get ``[0]``, ``[1]``, ... in recording order. A single-output op
names its var; outputs of multi-output ops are ``<op name>:o<k>``. So a dumped model's
output is called ``fc.ADD`` or ``Softmax`` where MegEngine's would be.

Example:
    >>> import mge, mge.module as M, mge.functional as F
    >>> from mge.jit import trace
    >>> net = M.Sequential(M.Linear(2, 2))
    >>> @trace(symbolic=True, capture_as_const=True)
    ... def f(x):
    ...     return F.relu(net(x))
    >>> _ = f(mge.tensor([[1.0, 2.0]]))
    >>> f.graph.outputs[0].name, f.graph.outputs[0].owner.inputs[0].name
    ('RELU', '0.ADD')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..core.opdef import OpDef
from ..graph.ir import Graph, OpNode, VarNode
from ..ops import Elemwise
from ..ops.elemwise import PowC, TypeCvt
from ..ops.shape import (
    AxisAddRemove,
    Broadcast,
    Dimshuffle,
    GetVarShape,
    Reshape,
    scalar_made_1d,
)
from .megbrain_facts import MAX_SHARED_CONST_ELEMS


def op_base_name(op: OpDef) -> str:
    """``ADD`` for ``Elemwise(mode="ADD")``, ``Convolution`` for ``ConvolutionForward``."""
    if isinstance(op, Elemwise):
        return op.mode
    return op.type_name.removesuffix("Forward")


def qualified_tensor_names(module: Any) -> dict[int, str]:
    """``id(tensor) -> name`` for the parameters and buffers of ``module``, as MegEngine
    names them when they are assigned: the module's ``name`` (if any), the attribute path,
    and last the tensor's own ``name`` if it has one, else its attribute
    (``simple.linear.weight``, ``simple.linear.user-weight``)."""
    top = getattr(module, "name", None)
    names: dict[int, str] = {}
    for path, t in module.named_tensors():
        parts = path.split(".")
        leaf = t.name or parts[-1]
        names[id(t)] = ".".join(p for p in (top, *parts[:-1], leaf) if p)
    return names


class OpNamer:
    """A call tracer that follows module scopes while a trace records (names no calls)."""

    def __init__(self, param_names: dict[int, str]) -> None:
        self.scopes: list[str | None] = []
        self.short_names: dict[int, str] = {}
        self.param_names = param_names  # tensor id -> path, filled from top modules too
        self.named: list[tuple[OpNode, str]] = []

    def call(self, fn: Callable, public: Callable, args: tuple, kwargs: dict) -> Any:
        return fn(*args, **kwargs)

    def call_module(self, module: Any, run: Callable, args: tuple, kwargs: dict) -> Any:
        if not self.scopes:  # the top module: its submodules and tensors are named from it
            for path, sub in module.named_modules():
                if path:
                    self.short_names.setdefault(id(sub), path.rsplit(".", 1)[-1])
            for key, name in qualified_tensor_names(module).items():
                self.param_names.setdefault(key, name)
        name = getattr(module, "name", None)
        self.scopes.append(name if name is not None else self.short_names.get(id(module)))
        try:
            return run(*args, **kwargs)
        finally:
            self.scopes.pop()

    def name(self, node: OpNode) -> None:
        """Name ``node`` (an op just recorded) in the current scope (a scalar made 1-d
        is no op in a ``.mge`` file: it gets no name and counts for no repeat)."""
        if scalar_made_1d(node.op, node.inputs, node.outputs):
            return
        scope = ".".join(s for s in self.scopes if s is not None)
        base = op_base_name(node.op)
        self.named.append((node, f"{scope}.{base}" if scope else base))

    @property
    def base_names(self) -> dict[int, str]:
        """``op id -> name`` before repeats are numbered (``trace.dump`` numbers them
        again over the operators a file keeps)."""
        return {node.id: name for node, name in self.named}

    def finish(self) -> None:
        """Give the recorded ops and their vars their final names (``[i]`` for repeats)."""
        counts: dict[str, int] = {}
        for _, name in self.named:
            counts[name] = counts.get(name, 0) + 1
        seen: dict[str, int] = {}
        for node, name in self.named:
            if counts[name] > 1:
                k = seen.get(name, 0)
                seen[name] = k + 1
                name = f"{name}[{k}]"
            node.name = name
            if len(node.outputs) == 1:
                node.outputs[0].name = name
            else:
                for k, var in enumerate(node.outputs):
                    var.name = f"{name}:o{k}"


#: ops that take exactly one MegBrain node id per output var besides their own (no
#: workspace var), so node ids can be counted through them
_COUNTED_OPS = (Elemwise, TypeCvt, Reshape, AxisAddRemove, Dimshuffle, Broadcast, GetVarShape,
                PowC)


def const_summary(value: np.ndarray) -> str:
    """MegBrain's name of an ``ImmutableTensor`` before its ``[node id]``: ``const<2>``,
    ``const<1.5>``, ``const<7>{1,1}`` (one element), ``const{2,3}`` (the shape)."""
    shape = value.shape or (1,)
    dims = "{" + ",".join(str(d) for d in shape) + "}"
    if value.size and all(d == 1 for d in shape):
        summary = f"const<{float(np.asarray(value).reshape(-1)[0]):.3g}>"
        return summary if len(shape) == 1 else summary + dims
    return "const" + dims


def _value_key(value: np.ndarray) -> tuple | None:
    if value.size > MAX_SHARED_CONST_ELEMS:
        return None
    value = np.ascontiguousarray(value)
    return (value.dtype.str, value.shape or (1,), value.tobytes())


def _implied_const(node: OpNode) -> np.ndarray | None:
    """The shape a one-input ``Reshape``/``Broadcast`` holds as a param, which MegEngine's
    trace records as a constant input (``x.reshape(3, 1)``: ``const{2}``)."""
    if isinstance(node.op, (Reshape, Broadcast)) and len(node.inputs) == 1:
        return np.asarray(node.outputs[0].shape, dtype=np.int32)
    return None


def name_constants(graph: Graph, recorded: Sequence[OpNode], folded: Mapping[int, int]
                   ) -> None:
    """Name unnamed constants ``const<2>[4]`` as MegBrain names them in a dump.

    MegBrain numbers every operator and var of the graph ``trace.dump`` builds from one
    counter: each input takes two ids (operator, var), then each constant of the
    recording, in recording order (``recorded``: the ops before any rewrite; equal small
    constants are one, and a static shape MegEngine records as a constant counts), then
    the ops in recording order, one id per operator and output, a folded op two more for
    the constant that replaces it (``folded``: new const var id -> replaced var id).
    Folded constants are named only while every op before them is one whose ids are
    counted exactly (no workspace var); the others stay unnamed.
    """
    next_id = 2 * len(graph.inputs)
    names: dict[tuple, str] = {}

    def give(value: np.ndarray, var: VarNode | None) -> None:
        nonlocal next_id
        key = _value_key(value)
        if key is not None and key in names:
            return  # MegBrain's cache gives the first one: no id, no second name
        name = f"{const_summary(value)}[{next_id}]"
        next_id += 2
        if key is not None:
            names[key] = name
        if var is not None and not var.name:
            var.name = name

    ops = []
    for node in recorded:
        if node.outputs and node.outputs[0].is_const:
            give(np.asarray(node.outputs[0].value), node.outputs[0])
        elif not node.outputs[0].is_input:
            implied = _implied_const(node)
            if implied is not None:
                give(implied, None)
            ops.append(node)
    by_replaced = {old: new for new, old in folded.items()}
    consts = {v.id: v for node in graph.ops() for v in node.outputs if v.is_const}
    for node in ops:
        if not isinstance(node.op, _COUNTED_OPS):
            return
        next_id += 1 + len(node.outputs)
        for out in node.outputs:
            new = consts.get(by_replaced.get(out.id, -1))
            if new is not None:
                give(np.asarray(new.value), new)


__all__ = ["OpNamer", "const_summary", "name_constants", "op_base_name",
           "qualified_tensor_names"]
