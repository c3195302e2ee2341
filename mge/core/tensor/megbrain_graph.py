"""MegEngine's ``megengine.core.tensor.megbrain_graph`` names for ``.mge`` graphs.

Example:
    >>> from mge.core.tensor import megbrain_graph as G
    >>> G.load_graph("test.mge").output_vars_list[0].owner.inputs[0].dtype  # doctest: +SKIP
    dtype('float16')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...graph.ir import OpNode, VarNode
from ...serialization.mge_graph import (
    CompGraphDumpResult,
    CompGraphLoadResult,
    dump_graph,
    load_graph,
)
from .base import Tensor


class _Function:
    """A compiled set of outputs (``Graph.compile``): ``execute()`` computes their values."""

    def __init__(self, outputs: Sequence[OutputNode]) -> None:
        self.outputs = list(outputs)

    def execute(self) -> _Function:
        for out in self.outputs:
            out.compute()
        return self


class Graph:
    """MegEngine's computing graph handle, as far as reading values goes: ``compile`` the
    :class:`OutputNode` s of vars and ``execute`` to fill them."""

    def compile(self, outputs: Sequence[OutputNode]) -> _Function:
        return _Function([o for o in outputs if isinstance(o, OutputNode)])


class OutputNode:
    """A var's value reader (MegEngine's): ``get_value()`` after the graph executed.

    Example:
        >>> from mge.utils.network import Network
        >>> x = Network().make_const([1.0, 2.0]) * 2
        >>> o = OutputNode(x.var)
        >>> o.graph.compile(o.outputs).execute()  # doctest: +ELLIPSIS
        <...>
        >>> o.get_value().numpy()
        array([2., 4.], dtype=float32)
    """

    def __init__(self, var: Any) -> None:
        self.var = var
        self.graph = Graph()
        self.outputs = [self]
        self._value: Any = None

    def compute(self) -> None:
        self._value = Tensor(self.var.numpy())

    def get_value(self) -> Any:
        if self._value is None:
            raise RuntimeError(f"OutputNode({self.var!r}): the graph has not been executed")
        return self._value


__all__ = [
    "CompGraphDumpResult", "CompGraphLoadResult", "Graph", "OpNode", "OutputNode", "VarNode",
    "dump_graph", "load_graph",
]
