"""``GraphInference`` (MegEngine's file runner) on the graph interpreter.

``Executor`` (the interpreter itself) lives in :mod:`mge.graph.interpreter`; it is
re-exported here, its historical home.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import IO

import numpy as np

from ..graph.interpreter import Executor
from ..serialization.mge_graph import load_graph


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
