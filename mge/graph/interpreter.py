"""The graph interpreter: run a graph's ops in order with one backend's kernels.

``Executor(graph)`` runs the graph's ops in topological order with the kernels of one
backend (``mge.core.apply.run_op``), feeding ``Host2DeviceCopy`` inputs from the caller
and constants from their values, and drops each intermediate buffer after its last use.
``jit.trace`` replays its graphs with it; the runtime's compiled plans are faster ways to
do the same.

Example:
    >>> import numpy as np
    >>> from mge.graph import Graph
    >>> from mge.ops import Elemwise
    >>> g = Graph()
    >>> a, b = g.add_input("a", (2,), "float32"), g.add_input("b", (2,), "float32")
    >>> g.outputs = g.add_op(Elemwise(mode="ADD"), [a, b])
    >>> Executor(g).run(np.ones(2, np.float32), b=np.arange(2, dtype=np.float32))
    [array([1., 2.], dtype=float32)]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..backends import Backend, get_backend
from ..core.apply import run_op
from ..core.opdef import TensorInfo
from ..ops.registry import PrepareSite
from .ir import ConstOp, Graph, Host2DeviceCopy, VarNode


class Executor:
    """Run ``graph`` on ``backend`` (name or ``Backend``; default: the process default).

    Args:
        graph: the graph to run; it must pass ``lint``. It is not copied: edit it and
            build a new ``Executor`` afterwards.
        backend: backend name or object.
        device: device name for constants and inputs (backend default when None).
    """

    def __init__(self, graph: Graph, backend: str | Backend | None = None,
                 device: str | None = None) -> None:
        self.graph = graph
        self.backend = backend if isinstance(backend, Backend) else get_backend(backend)
        self.device = device
        self._order = graph.ops(list(graph.inputs) + list(graph.outputs))
        keep = {v.id for v in graph.outputs}
        last_use: dict[int, int] = {}
        for step, node in enumerate(self._order):
            for v in node.inputs:
                last_use[v.id] = step
        self._free_after: list[list[int]] = [[] for _ in self._order]
        for vid, step in last_use.items():
            if vid not in keep:
                self._free_after[step].append(vid)
        self._consts: dict[int, Any] = {}
        #: op node id -> its kernel prepared for the node: the random ops, which draw
        #: from a generator of the node's own, run after run (as MegEngine's oprs)
        self._node_kernels = {node.id: self.backend.prepare(node.op, PrepareSite(
            [TensorInfo(v.shape, v.dtype) for v in node.inputs],
            [TensorInfo(v.shape, v.dtype) for v in node.outputs], in_graph=True)).fn
            for node in self._order if node.op.random}

    def _const(self, var: VarNode) -> Any:
        arr = self._consts.get(var.id)
        if arr is None:
            arr = self.backend.asarray(np.array(var.value), self.device)  # writable copy
            self._consts[var.id] = arr
        return arr

    def check_feed(self, var: VarNode, value: Any) -> np.ndarray:
        """``value`` as a numpy array of ``var``'s dtype; clear error on shape/dtype mismatch.

        Only the width may differ (float64 data for a float32 input is converted).
        """
        arr = np.asarray(value)
        if tuple(arr.shape) != var.shape:
            raise ValueError(
                f"input {var.name!r}: expected shape {var.shape}, got {tuple(arr.shape)}")
        if arr.dtype != var.dtype:
            if arr.dtype.kind != var.dtype.kind:
                raise TypeError(
                    f"input {var.name!r}: expected dtype {var.dtype}, got {arr.dtype}")
            arr = arr.astype(var.dtype)
        return arr

    def run_arrays(self, feeds: Mapping[int, Any]) -> list[Any]:
        """Run with backend arrays keyed by input var id; returns backend arrays."""
        values: dict[int, Any] = {}
        for step, node in enumerate(self._order):
            op = node.op
            if isinstance(op, Host2DeviceCopy):
                values[node.outputs[0].id] = feeds[node.outputs[0].id]
            elif isinstance(op, ConstOp):
                values[node.outputs[0].id] = self._const(node.outputs[0])
            else:
                args = [values[v.id] for v in node.inputs]
                kernel = self._node_kernels.get(node.id)
                result = kernel(*args) if kernel else run_op(op, *args, backend=self.backend)
                if len(node.outputs) == 1:
                    result = (result,)
                for v, arr in zip(node.outputs, result, strict=True):
                    values[v.id] = arr
            for vid in self._free_after[step]:
                values.pop(vid, None)
        return [values[v.id] for v in self.graph.outputs]

    def run(self, *args: Any, **named: Any) -> list[np.ndarray]:
        """Run on numpy inputs, positional (graph input order) or by input name."""
        inputs = self.graph.inputs
        if len(args) > len(inputs):
            raise TypeError(f"graph takes {len(inputs)} inputs, got {len(args)}")
        given = dict(zip((v.name for v in inputs), args, strict=False))
        overlap = set(given) & set(named)
        if overlap:
            raise TypeError(f"inputs given twice: {sorted(overlap)}")
        given.update(named)
        names = [v.name for v in inputs]
        if set(given) != set(names):
            raise TypeError(f"graph expects inputs {names}, got {sorted(given)}")
        feeds = {
            v.id: self.backend.asarray(self.check_feed(v, given[v.name]), self.device)
            for v in inputs
        }
        return [self.backend.to_numpy(a) for a in self.run_arrays(feeds)]


__all__ = ["Executor"]
