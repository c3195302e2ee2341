"""Plans from the load cache: a network loaded from an entry, its graph parsed only when
something needs it.

:func:`entry_of` turns what a first load compiled (a whole-graph plan and the ONNX model
its backend exported) into a load-cache :class:`~.load_cache.Entry`;
:class:`LazyPlanCache` is the plan cache of a network loaded from an entry: its plan for
the entry's input shapes is the engine session made from the entry, and anything else
(another input shape, the graph for a dump, the weights to share) parses the model
file then, through the ``materialize`` function it was given.

Example:
    >>> cache = LazyPlanCache(entry, materialize)        # doctest: +SKIP
    >>> cache.plan(cache.shapes).run(x)                  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ..graph.ir import Graph, VarNode
from ..runtime.liveness import MemoryReport
from ..runtime.plan import Plan, PlanCache, PlanOptions, WeightCache, plan_backend_class
from ..runtime.plan_onnx import OnnxGraphBackend
from .load_cache import Entry

#: ``materialize() -> (the model's graph as loaded, the plan cache a first load makes)``
Materialize = Callable[[], tuple[Graph, PlanCache]]


class IOView(NamedTuple):
    """The inputs and outputs of a model, without its ops (what loading needs)."""

    inputs: list[VarNode]
    outputs: list[VarNode]


def _vars(specs: list[list[Any]], graph: Graph | None) -> list[VarNode]:
    """Vars of ``[name, shape, dtype]`` specs: graph inputs with ``graph``, else bare."""
    if graph is not None:
        return [graph.add_input(name, shape, dtype) for name, shape, dtype in specs]
    return [VarNode(-1 - k, shape, dtype, name) for k, (name, shape, dtype) in enumerate(specs)]


def _specs(variables: Sequence[VarNode]) -> list[list[Any]]:
    return [[v.name, list(v.shape), v.dtype.str] for v in variables]


@functools.cache
def _library_id(name: str) -> str:
    """Where library ``name`` is installed and its ``__init__``'s size and time: it
    changes with the installed version, and is found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return "missing"
    st = os.stat(spec.origin)
    return f"{spec.origin}:{st.st_size}:{st.st_mtime_ns}"


def engine_versions(backend: str) -> dict[str, str]:
    """The identity of the libraries a backend's entries depend on (the ONNX library
    that wrote the model and the engine that runs it)."""
    return {name: _library_id(name) for name in ("onnx", backend)}


def entry_of(cache: PlanCache, plan: Plan, shapes: Mapping[str, Sequence[int]],
             captured: list[tuple[Any, Any]]) -> Callable[[str], Entry] | None:
    """How to make the load-cache entry of ``plan`` (made by ``cache`` for ``shapes``)
    from the models captured while it was compiled: ``build(scratch) -> Entry``, to call
    off the load's path (``scratch``: an empty folder for the engine's saved form, which
    the entry then names), or ``None`` when the plan has no whole-graph model. What the
    entry says about the plan is read now."""
    model = next((m for backend, m in captured if backend is plan.backend), None)
    if model is None or plan.backend.weight_arrays is None and \
            any(i.HasField("data_location") and i.data_location == 1
                for i in model.graph.initializer):
        return None
    meta = {"backend": plan.backend.name,
            "engine": engine_versions(plan.backend.name),
            "options": dataclasses.asdict(cache.options),
            "shapes": {n: list(s) for n, s in shapes.items()},
            "io": [_specs(cache.graph.inputs), _specs(cache.graph.outputs)],
            "plan_io": [_specs(plan.inputs), _specs(plan.outputs)],
            "memory": list(plan.memory)}
    save = getattr(plan._runner, "save_optimized", None)  # the engine's own optimized form
    weights = dict(plan.backend.weight_arrays or {})

    def build(scratch: str) -> Entry:
        full = {**meta, "op_types": [node.op_type for node in model.graph.node]}
        if save is not None:
            save(scratch)
            return Entry(full, saved=scratch)
        return Entry(full, model.SerializeToString(), weights)

    return build


def io_of(cache: PlanCache) -> Any:
    """The inputs and outputs of a plan cache's model (without parsing a cached one)."""
    return cache.io if isinstance(cache, LazyPlanCache) else cache.graph


class CachedPlan(Plan):
    """A plan whose engine session was made from a load-cache entry (it has no graph of
    its own until one is asked for: ``graph`` parses the model then)."""

    def __init__(self, options: PlanOptions, backend: OnnxGraphBackend, runner: Any,
                 inputs: list[VarNode], outputs: list[VarNode], memory: MemoryReport,
                 owner: LazyPlanCache) -> None:
        self.options, self.backend, self._runner = options, backend, runner
        self.inputs, self.outputs, self.memory = inputs, outputs, memory
        self.steps = []
        self._program, self._const_outputs, self._template, self._slot = [], {}, [], {}
        self._owner = owner

    @property
    def graph(self) -> Graph:  # type: ignore[override]
        """The plan's graph, from the model (parsed now, on the first call)."""
        return self._owner.real().plan(self._owner.shapes).graph


class LazyPlanCache(PlanCache):
    """The plan cache of a network loaded from a load-cache entry (see the module doc).

    Raises:
        ValueError: the entry's backend cannot take it here (the caller loads normally).
    """

    def __init__(self, entry: Entry, materialize: Materialize) -> None:
        meta = entry.meta
        options = PlanOptions(**meta["options"])
        try:  # imports a built-in backend not imported yet (a new process)
            backend_class = plan_backend_class(dataclasses.replace(options,
                                                                   backend=meta["backend"]))
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"plan backend {meta['backend']!r} cannot run here ({exc})") \
                from exc
        if not issubclass(backend_class, OnnxGraphBackend):
            raise ValueError(f"plan backend {meta['backend']!r} takes no whole-graph model")
        if meta["engine"] != engine_versions(meta["backend"]):
            raise ValueError(f"written by {meta['engine']}, not {engine_versions(meta['backend'])}")
        self.options, self.backend_class, self.max_plans = options, backend_class, 4
        self._materialize = materialize
        self._real: tuple[Graph, PlanCache] | None = None
        inputs, outputs = meta["io"]
        #: the model's inputs and outputs (as ``graph`` would give them, without parsing)
        self.io = IOView(_vars(inputs, Graph()), _vars(outputs, None))
        self.shapes = {n: tuple(s) for n, s in meta["shapes"].items()}
        plan_inputs, plan_outputs = meta["plan_io"]
        backend = backend_class(options, WeightCache())
        arrays = backend.external_weights()
        if arrays is None and entry.weights:
            raise ValueError("the entry has weights its backend does not take as arrays")
        if arrays is not None:
            arrays.update(entry.weights)
        sig = IOView(_vars(plan_inputs, Graph()), _vars(plan_outputs, None))
        if hasattr(backend, "compile_bytes"):  # no onnx import, no parse
            runner = backend.compile_bytes(entry.model, meta["op_types"], len(sig.inputs),
                                           len(sig.outputs), saved=entry.saved)
        elif entry.model is None:
            raise ValueError(f"plan backend {meta['backend']!r} takes no saved model")
        else:
            import onnx

            runner = backend.compile_model(onnx.load_from_string(entry.model), sig)  # type: ignore[arg-type]
        if runner is None:
            raise ValueError(f"plan backend {meta['backend']!r} declined the model")
        self._plan = CachedPlan(options, backend, runner, sig.inputs, sig.outputs,
                                MemoryReport(*meta["memory"]), self)
        self._plan_shapes = {v.name: v.shape for v in sig.inputs}
        self._last: dict | None = None

    def real(self) -> PlanCache:
        """The plan cache of the parsed model (parsed on the first call)."""
        if self._real is None:
            self._real = self._materialize()
        return self._real[1]

    def model_graph(self) -> Graph:
        """The model's graph as loaded (parsed on the first call)."""
        self.real()
        return self._real[0]  # type: ignore[index]

    @property
    def graph(self) -> Graph:  # type: ignore[override]
        """The optimized graph of the parsed model (parsed now, on the first call)."""
        return self.real().graph

    @property
    def weights(self) -> WeightCache:  # type: ignore[override]
        return self.real().weights

    def plan(self, shapes: Mapping[str, Sequence[int]] | None = None) -> Plan:
        """The entry's plan for its own input shapes; for others, the parsed model's."""
        if shapes is not None and shapes == self._last:
            return self._plan  # a forward's fast path: the shapes of the last call
        given = {n: tuple(int(d) for d in s) for n, s in (shapes or {}).items()}
        if all(given.get(v.name, v.shape) == self._plan_shapes[v.name] for v in self.io.inputs):
            self._last = dict(shapes) if shapes is not None else None
            return self._plan
        return self.real().plan(shapes)


__all__ = ["CachedPlan", "IOView", "LazyPlanCache", "Materialize", "engine_versions",
           "entry_of", "io_of"]
