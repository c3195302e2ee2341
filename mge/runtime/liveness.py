"""Buffer lifetimes of a plan: when each intermediate dies, which inputs an op may
overwrite, and the peak activation memory that gives.

Vars that may share memory form one *storage group*: an op whose ``output_memory`` is not
``Memory.FRESH`` (reshapes, shuffles, subtensors, casts...) may return a view of its
inputs, so its outputs join its inputs' group. A group is *protected* when it holds
a graph input (the caller's memory), a constant or a graph output.

* ``frees[k]``: the slots whose last reader is step ``k`` (dropped right after it);
* ``donated(k)``: for each input of step ``k``, whether the kernel may overwrite it: it is
  a whole buffer of its own (made by a fresh op, or a reshape of one), its group is
  unprotected, read by nobody after step ``k``, and read only once by step ``k``;
* ``report(inplace)``: peak and total activation bytes, given which steps wrote in place.

Example:
    >>> live = Liveness(nodes, graph.inputs, graph.outputs, consts)  # doctest: +SKIP
    >>> live.report([None] * len(nodes)).peak_activation_bytes       # doctest: +SKIP
    1605632
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from ..core.opdef import Memory, TensorInfo
from ..graph.ir import OpNode, VarNode


class MemoryReport(NamedTuple):
    """Activation memory of a plan (constants and the caller's inputs not counted).

    Attributes:
        peak_activation_bytes: the most bytes of intermediates and outputs alive at once.
        total_activation_bytes: the bytes of every intermediate and output (no reuse).
        weight_bytes: the bytes of the constants the plan reads.
        inplace_ops: how many ops wrote their result into a dead input.
    """

    peak_activation_bytes: int
    total_activation_bytes: int
    weight_bytes: int
    inplace_ops: int


def _nbytes(var: VarNode) -> int:
    return math.prod(var.shape) * var.dtype.itemsize


def _memory(node: OpNode) -> Memory:
    return node.op.output_memory([TensorInfo(v.shape, v.dtype) for v in node.outputs])


def _is_fresh(node: OpNode) -> bool:
    return _memory(node) is Memory.FRESH


class _Groups:
    """Union-find over var ids."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, a: int) -> int:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


class Liveness:
    """Lifetimes for ``nodes`` (the planned ops, in order) of a graph.

    Args:
        nodes: the ops that run, in order (no source ops, no folded ops).
        inputs, outputs: the graph's inputs and outputs.
        consts: values of constant (and folded) vars by var id.
    """

    def __init__(self, nodes: Sequence[OpNode], inputs: Sequence[VarNode],
                 outputs: Sequence[VarNode], consts: Mapping[int, np.ndarray]) -> None:
        self.nodes = list(nodes)
        self.consts = consts
        self.end = len(self.nodes)
        out_ids = {v.id for v in outputs}
        last: dict[int, int] = {}
        for k, node in enumerate(self.nodes):
            for v in node.outputs:
                last.setdefault(v.id, k)
            for v in node.inputs:
                last[v.id] = k
        for vid in out_ids:
            last[vid] = self.end
        self.last_read = last
        self.frees: list[list[int]] = [[] for _ in self.nodes]
        for vid, k in last.items():
            if k < self.end and vid not in consts:
                self.frees[k].append(vid)
        self.protected_ids = {v.id for v in inputs} | out_ids | set(consts)
        self.groups = self._group(())
        self.group_last = self._group_last(self.groups)
        self.owns_buffer: set[int] = set()
        for node in self.nodes:
            if _is_fresh(node) or (_memory(node) is Memory.WHOLE_VIEW
                                   and node.inputs[0].id in self.owns_buffer):
                self.owns_buffer.update(v.id for v in node.outputs)

    def _group(self, inplace: Sequence[tuple[int, int]]) -> _Groups:
        groups = _Groups()
        for node in self.nodes:
            if not _is_fresh(node):
                for v in node.inputs:
                    for out in node.outputs:
                        groups.union(out.id, v.id)
        for a, b in inplace:
            groups.union(a, b)
        return groups

    def _group_last(self, groups: _Groups) -> dict[int, int]:
        result: dict[int, int] = {}
        for vid, k in self.last_read.items():
            g = groups.find(vid)
            if vid in self.protected_ids:
                k = self.end + 1
            result[g] = max(result.get(g, -1), k)
        return result

    def donated(self, k: int) -> tuple[bool, ...]:
        """For each input of step ``k``: may the kernel overwrite it?"""
        node = self.nodes[k]
        roots = [self.groups.find(v.id) for v in node.inputs]
        return tuple(self.group_last[g] == k and roots.count(g) == 1 and v.id in self.owns_buffer
                     for g, v in zip(roots, node.inputs, strict=True))

    def report(self, inplace: Sequence[int | None]) -> MemoryReport:
        """Memory figures, given for each step the input it wrote into (or ``None``)."""
        edges = [(node.outputs[0].id, node.inputs[i].id)
                 for node, i in zip(self.nodes, inplace, strict=True) if i is not None]
        groups = self._group(edges)
        group_last = self._group_last(groups)
        alive: dict[int, int] = {}  # group -> bytes allocated in it
        peak = total = 0
        for k, node in enumerate(self.nodes):
            if inplace[k] is None and _memory(node) not in (Memory.VIEW, Memory.WHOLE_VIEW):
                for v in node.outputs:
                    g = groups.find(v.id)
                    alive[g] = alive.get(g, 0) + _nbytes(v)
                    total += _nbytes(v)
            peak = max(peak, sum(alive.values()))
            for g in [g for g in alive if group_last[g] == k]:
                del alive[g]
        read = {v.id for node in self.nodes for v in node.inputs}
        weight = sum(int(v.nbytes) for vid, v in self.consts.items() if vid in read)
        return MemoryReport(peak, total, weight, sum(i is not None for i in inplace))


__all__ = ["Liveness", "MemoryReport"]
