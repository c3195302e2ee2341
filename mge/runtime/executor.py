"""A straightforward graph executor, and ``GraphInference`` (MegEngine's file runner) on it.

``Executor(graph)`` runs the graph's ops in topological order with the kernels of one
backend (``mge.core.apply.run_op``), feeding ``Host2DeviceCopy`` inputs from the caller
and constants from their values, and drops each intermediate buffer after its last use.

Example:
    >>> from mge.graph import Graph
    >>> from mge.ops import Elemwise
    >>> g = Graph()
    >>> x = g.add_input("x", (3,), "float32")
    >>> g.outputs = g.add_op(Elemwise(mode="RELU"), [x])
    >>> Executor(g).run(np.array([-1.0, 0.0, 2.0], np.float32))
    [array([0., 0., 2.], dtype=float32)]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import IO, Any

import numpy as np

from ..backends import Backend, get_backend
from ..core.apply import run_op
from ..graph.ir import ConstOp, Graph, Host2DeviceCopy, VarNode


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
                result = run_op(op, *[values[v.id] for v in node.inputs], backend=self.backend)
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


class GraphInference:
    """Load a ``.mge`` file and run it (MegEngine's ``comp_graph_tools.GraphInference``).

    Args:
        file: path or binary file object.
        outputs: names of the outputs to compute (default: all, in file order).
        profiling, optimize_for_inference: accepted for compatibility; the file is run
            as written.
        backend: mge backend name (default: the process default).

    Example:
        >>> GraphInference("model.mge").run(image)  # doctest: +SKIP
        OrderedDict([('prob', array(...))])
    """

    def __init__(self, file: str | IO[bytes], outputs: Sequence[str] | None = None,
                 profiling: bool = False, optimize_for_inference: bool = False,
                 backend: str | None = None) -> None:
        from ..serialization.mge_graph import load_graph

        loaded = load_graph(file)
        graph = loaded.graph
        if outputs is not None:
            by_name = {v.name: v for v in graph.vars()}
            missing = [n for n in outputs if n not in by_name]
            if missing:
                raise ValueError(f"no vars named {missing} in the graph")
            graph.outputs = [by_name[n] for n in outputs]
        self.graph = graph
        self._executor = Executor(graph, backend)

    def run(self, *inp_args: np.ndarray, inp_dict: Mapping[str, np.ndarray] | None = None
            ) -> OrderedDict[str, np.ndarray]:
        """Run on inputs given in graph input order and/or by name; returns name -> value."""
        values = self._executor.run(*inp_args, **dict(inp_dict or {}))
        result: OrderedDict[str, np.ndarray] = OrderedDict()
        for k, (var, value) in enumerate(zip(self.graph.outputs, values, strict=True)):
            result[var.name or f"output_{k}"] = value
        return result


__all__ = ["Executor", "GraphInference"]
