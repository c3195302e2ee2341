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

from collections.abc import Callable
from typing import Any

from ..core.opdef import OpDef
from ..graph.ir import OpNode
from ..ops import Elemwise
from ..ops.shape import scalar_made_1d


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


__all__ = ["OpNamer", "op_base_name", "qualified_tensor_names"]
