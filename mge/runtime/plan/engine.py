"""The plan engine: a graph for fixed input shapes, bound to one plan backend, run.

A :class:`Plan` is built once per (graph, input shapes) and then run many times:

* the ops are put in topological order; ops whose inputs are all constants are
  evaluated once while building (constant folding);
* every op is prepared once by its own preparation for the plan backend's kernels
  (``Backend.prepare``: constants converted, reshaped, laid out or packed once, in a
  :class:`~.protocol.WeightCache` that plans and networks can share; fused epilogues;
  in-place writes into dead inputs), or bound to its plain kernel;
* buffer lifetimes are analysed: each intermediate is dropped right after its last
  reader (so the allocator reuses its memory) and a kernel may write its result into
  an input that nothing reads afterwards (in place). :attr:`Plan.memory` reports the
  peak activation bytes this gives.

:class:`PlanCache` keeps the plans of one graph by input shapes: it runs the inference
passes the backend gains from once, and builds a new plan when an input shape changes.
What a backend must provide is :mod:`.protocol`.

Example:
    >>> import numpy as np
    >>> from mge.graph import Graph
    >>> from mge.ops import Elemwise
    >>> from mge.runtime.plan import PlanOptions
    >>> g = Graph()
    >>> x = g.add_input("x", (3,), "float32")
    >>> g.outputs = g.add_op(Elemwise(mode="RELU"), [x])
    >>> plan = Plan(g, PlanOptions(backend="numpy"))
    >>> plan.run(np.array([-1.0, 0.0, 2.0], np.float32))
    [array([0., 0., 2.], dtype=float32)]
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ...backends import get_backend
from ...core.apply import run_op
from ...dtype import is_quantize
from ...graph.ir import ConstOp, Graph, Host2DeviceCopy, OpNode, VarNode
from ...graph.passes import PASSES
from .. import plan_passes  # noqa: F401  (registers the plan-only passes)
from ..liveness import Liveness, MemoryReport
from ..specialize import has_sources, specialize
from .protocol import BindSite, PlanOptions, WeightCache, plan_backend_class


class StepInfo(NamedTuple):
    """One planned op, for profiles and dumps."""

    index: int
    node: OpNode
    inplace: int | None

    @property
    def name(self) -> str:
        out = self.node.outputs[0]
        return self.node.name or out.name or f"{self.node.type}#{self.node.id}"


#: ``observer(step, outputs, seconds)`` after each op of an observed run
Observer = Callable[[StepInfo, Sequence[Any], float], None]
#: ``call(output_keys, {input_key: array}, None) -> results``: see :meth:`Plan.unchecked`
NativeCall = Callable[[list[str], dict[str, Any], None], list[np.ndarray]]


#: the inference passes that keep quantized graphs exact
QUANTIZED_PASSES = ("remove_noop", "fold_constants")


def is_quantized(graph: Graph) -> bool:
    """Whether any var of ``graph`` has a quantized dtype (every var an op reads is an
    output of an op ``ops()`` lists; each dtype object is looked at once)."""
    dtypes = {id(v.dtype): v.dtype for n in graph.ops() for v in n.outputs}
    return any(is_quantize(d) for d in dtypes.values())


class Plan:
    """``graph`` (static shapes) compiled for one backend; :meth:`run` executes it.

    Args:
        graph: the graph, specialized to its input shapes (see :class:`PlanCache` for
            shape changes). It is not modified.
        options: backend, device, threads, compute dtype, layout.
        weights: cache of prepared constants to share with other plans.
        quantized: whether ``graph`` has quantized vars, when the caller knows
            (:func:`is_quantized`, a walk of the graph, otherwise).
    """

    def __init__(self, graph: Graph, options: PlanOptions | None = None,
                 weights: WeightCache | None = None, quantized: bool | None = None) -> None:
        self.options = options or PlanOptions()
        self.graph = graph
        weights = weights if weights is not None else WeightCache()
        quantized = is_quantized(graph) if quantized is None else quantized
        self.backend = plan_backend_class(self.options, quantized)(self.options, weights)
        self.inputs = list(graph.inputs)
        self.outputs = list(graph.outputs)
        order = graph.ops(self.inputs + self.outputs)
        slots = {v.id: k for k, v in enumerate(v for n in order for v in n.outputs)}
        self._slot = slots
        self._runner = self.backend.compile_graph(graph)
        consts = self._fold(order) if self._runner is None else {
            n.outputs[0].id: n.op.value for n in order if isinstance(n.op, ConstOp)}
        nodes = [n for n in order if not isinstance(n.op, (Host2DeviceCopy, ConstOp))
                 and n.outputs[0].id not in consts]
        self.liveness = Liveness(nodes, self.inputs, self.outputs, consts)
        self.steps: list[StepInfo] = []
        self._program: list[tuple[Callable, tuple[int, ...], Any, tuple[int, ...]]] = []
        template: list[Any] = [None] * len(slots)
        if self._runner is None:
            with self.backend.session():  # kernels may tune to the thread count when bound
                self._bind(nodes, consts, template)
        self._const_outputs = {v.id: consts[v.id] for v in self.outputs if v.id in consts}
        self._template = template
        inplace = [s.inplace for s in self.steps] if self._runner is None else [None] * len(nodes)
        #: the plan's activation memory (for whole-graph backends: as analysed, not measured)
        self.memory: MemoryReport = self.liveness.report(inplace)

    def _bind(self, nodes: list[OpNode], consts: dict[int, np.ndarray],
              template: list[Any]) -> None:
        slots = self._slot
        for k, node in enumerate(nodes):
            site = BindSite.of(node, tuple(consts.get(v.id) for v in node.inputs),
                               self.liveness.donated(k), self.backend)
            bound = self.backend.bind(site)
            for a in bound.args:
                value = consts.get(node.inputs[a].id)
                if value is not None:
                    template[slots[node.inputs[a].id]] = self.backend.const(value)
            self.steps.append(StepInfo(k, node, bound.inplace))
            outs = [slots[v.id] for v in node.outputs]
            self._program.append((bound.fn, tuple(slots[node.inputs[a].id] for a in bound.args),
                                  outs[0] if len(outs) == 1 else tuple(outs),
                                  tuple(slots[i] for i in self.liveness.frees[k])))

    def _fold(self, order: list[OpNode]) -> dict[int, np.ndarray]:
        """Values of constants and of ops computable from constants alone (numpy)."""
        numpy = get_backend("numpy")
        values: dict[int, np.ndarray] = {}
        for node in order:
            if isinstance(node.op, ConstOp):
                values[node.outputs[0].id] = node.op.value
            elif not isinstance(node.op, Host2DeviceCopy) and not node.op.random and \
                    all(v.id in values for v in node.inputs):
                try:
                    result = run_op(node.op, *[values[v.id] for v in node.inputs],
                                    backend=numpy)
                except NotImplementedError:
                    continue
                for v, r in zip(node.outputs, result if len(node.outputs) > 1 else (result,),
                                strict=True):
                    r = np.asarray(r, v.dtype)
                    r.setflags(write=False)
                    values[v.id] = r
        return values

    # ------------------------------------------------------------------ running
    def check_feed(self, var: VarNode, value: Any) -> np.ndarray:
        """``value`` as a numpy array for input ``var``: same shape, same dtype."""
        arr = np.asarray(value)
        if tuple(arr.shape) != var.shape:
            raise ValueError(f"input {var.name!r}: the plan takes shape {var.shape}, "
                             f"got {tuple(arr.shape)}")
        if arr.dtype != var.dtype:
            raise TypeError(f"input {var.name!r}: the plan takes dtype {var.dtype}, "
                            f"got {arr.dtype} (shape {tuple(arr.shape)})")
        return arr

    def run_feeds(self, feeds: Sequence[Any], observer: Observer | None = None
                  ) -> list[np.ndarray]:
        """Run on one array per graph input (in order); numpy results, one per output.

        With ``observer``, it is called after every op with the step, the op's outputs
        (backend arrays) and the op's seconds (device work waited for); plans whose
        backend compiled the whole graph have no ops to observe.
        """
        backend = self.backend
        if self._runner is not None:
            # arrays that already fit pass as they are (the per-forward cost matters on
            # small models); anything else goes through check_feed (errors included)
            arrays = [x if type(x) is np.ndarray and x.shape == v.shape and x.dtype == v.dtype
                      else self.check_feed(v, x)
                      for v, x in zip(self.inputs, feeds, strict=True)]
            with backend.session():
                results = self._runner(arrays)
            return [np.ascontiguousarray(r, dtype=v.dtype)
                    for r, v in zip(results, self.outputs, strict=True)]
        env = list(self._template)
        for var, value in zip(self.inputs, feeds, strict=True):
            env[self._slot[var.id]] = backend.feed(self.check_feed(var, value), var)
        with backend.session():
            if observer is None:
                for fn, args, out, frees in self._program:
                    result = fn(*[env[i] for i in args])
                    if type(out) is int:
                        env[out] = result
                    else:
                        for i, r in zip(out, result, strict=True):
                            env[i] = r
                    for i in frees:
                        env[i] = None
            else:
                self._run_observed(env, observer)
            return [self._fetch(env, v) for v in self.outputs]

    def unchecked(self) -> tuple[NativeCall, list[str], list[str]]:
        """:meth:`run_feeds` for callers that checked the feeds themselves (C-contiguous
        numpy arrays of the inputs' shapes and dtypes), in a native engine's calling
        convention: ``(call, input_keys, output_keys)``, run as
        ``call(output_keys, {input_key: array, ...}, None)`` with the keys in order. Its
        results may still need ``np.ascontiguousarray(r, dtype=var.dtype)``. Where the
        backend compiled the whole graph and its runner has a ``native`` form
        (onnxruntime's session call), that is it: nothing runs around the engine.

        Example:
            >>> call, keys, outs = plan.unchecked()                      # doctest: +SKIP
            >>> call(outs, {keys[0]: np.zeros((1, 3), np.float32)}, None)  # doctest: +SKIP
        """
        native = getattr(self._runner, "native", None)
        if native is not None:
            return native
        run_feeds = self.run_feeds

        def call(_outputs: Any, feeds: dict[str, Any], _options: Any) -> list[np.ndarray]:
            return run_feeds(list(feeds.values()))

        return call, [f"in{k}" for k in range(len(self.inputs))], \
            [f"out{k}" for k in range(len(self.outputs))]

    def io_binding(self, outputs: Sequence[np.ndarray]) -> Any | None:
        """A binding of the plan's engine to input arrays and to ``outputs``, buffers of
        the outputs' shapes and dtypes that every run writes into
        (:class:`mge.runtime.ort_binding.Binding`: ``bind(key, array)`` with the keys of
        :meth:`unchecked`, ``run()``), or ``None`` where the backend has none.

        Example:
            >>> buffers = [np.empty(v.shape, v.dtype) for v in plan.outputs]  # doctest: +SKIP
            >>> binding = plan.io_binding(buffers)                    # doctest: +SKIP
        """
        make = getattr(self._runner, "io_binding", None)
        return make(outputs) if make is not None else None

    def _run_observed(self, env: list[Any], observer: Observer) -> None:
        backend = self.backend
        for step, (fn, args, out, frees) in zip(self.steps, self._program, strict=True):
            backend.synchronize()
            start = time.perf_counter()
            result = fn(*[env[i] for i in args])
            backend.synchronize()
            seconds = time.perf_counter() - start
            outs = (out,) if type(out) is int else out
            results = (result,) if type(out) is int else result
            for i, r in zip(outs, results, strict=True):
                env[i] = r
            observer(step, results, seconds)
            for i in frees:
                env[i] = None

    def _fetch(self, env: list[Any], var: VarNode) -> np.ndarray:
        if var.id in self._const_outputs:
            return np.array(self._const_outputs[var.id])
        return self.backend.fetch(env[self._slot[var.id]], var)

    def run(self, *args: Any, **named: Any) -> list[np.ndarray]:
        """Run on numpy inputs, positional (graph input order) and/or by name."""
        names = [v.name for v in self.inputs]
        given = dict(zip(names, args, strict=False))
        if len(args) > len(names) or set(given) & set(named):
            raise TypeError(f"plan takes inputs {names}; got {len(args)} positional "
                            f"and {sorted(named)}")
        given.update(named)
        if set(given) != set(names):
            raise TypeError(f"plan takes inputs {names}, got {sorted(given)}")
        return self.run_feeds([given[n] for n in names])

    def __repr__(self) -> str:
        return (f"<Plan {self.backend.name}: {len(self.steps)} ops, peak activations "
                f"{self.memory.peak_activation_bytes} bytes>")


#: set to ``1``, a plan cache checks its optimized graph (``Graph.lint``: every op's
#: ``infer`` rule again) after the inference passes; the tests set it. Off by default:
#: the passes keep the graph valid, and the check cost a cold load 0.5-2 ms
ENV_LINT = "MGE_LINT_PLANS"


class PlanCache:
    """The plans of one graph, by input shapes: built on first use, rebuilt when an
    input shape changes (up to ``max_plans`` kept, least recently used dropped).

    ``options.optimize`` runs the backend's inference passes once, on a copy (checked
    after them with ``Graph.lint`` when ``$MGE_LINT_PLANS`` is ``1``).

    Example:
        >>> cache = PlanCache(graph, PlanOptions(backend="torch"))      # doctest: +SKIP
        >>> cache.plan({"data": (8, 3, 224, 224)}).run(batch)         # doctest: +SKIP
    """

    def __init__(self, graph: Graph, options: PlanOptions | None = None,
                 weights: WeightCache | None = None, max_plans: int = 4) -> None:
        self.options = options or PlanOptions()
        #: the graph's dtypes, which neither the passes nor new input shapes change
        self.quantized = is_quantized(graph)
        self.backend_class = plan_backend_class(self.options, self.quantized)
        self.weights = weights if weights is not None else WeightCache()
        self.max_plans = max_plans
        self.graph = self._optimized(graph) if self.options.optimize else graph
        #: shape params computed in the graph: every plan gets a static copy
        self._follows_sizes = has_sources(self.graph)
        self._plans: OrderedDict[tuple, Plan] = OrderedDict()
        #: (the shapes mapping of the last ``plan`` call, its plan): a forward's fast path
        self._last: tuple[dict, Plan] | None = None

    def _optimized(self, graph: Graph) -> Graph:
        g = graph.copy()
        passes = self.backend_class.passes
        if self.quantized:  # the float fusions do not know integer semantics
            passes = tuple(p for p in passes if p in QUANTIZED_PASSES)
        for name in passes:
            PASSES[name].run(g)
        if os.environ.get(ENV_LINT) == "1":
            g.lint()
        return g

    def plan(self, shapes: Mapping[str, Sequence[int]] | None = None) -> Plan:
        """The plan for these input shapes (inputs not named keep the graph's)."""
        last = self._last
        if last is not None and shapes is not None and last[0] == shapes:
            return last[1]  # the shapes of the last call: its plan, already most recent
        asked = dict(shapes) if shapes is not None else None
        shapes = {n: tuple(int(d) for d in s) for n, s in (shapes or {}).items()}
        key = tuple(shapes.get(v.name, v.shape) for v in self.graph.inputs)
        plan = self._plans.get(key)
        if plan is None:
            same = all(shapes.get(v.name, v.shape) == v.shape for v in self.graph.inputs)
            graph = self.graph if same and not self._follows_sizes else \
                specialize(self.graph, shapes)
            plan = Plan(graph, self.options, self.weights, self.quantized)
            self._plans[key] = plan
            while len(self._plans) > self.max_plans:
                self._plans.popitem(last=False)
        self._plans.move_to_end(key)
        self._last = (asked, plan) if asked is not None else None
        return plan


__all__ = ["ENV_LINT", "Observer", "Plan", "PlanCache", "StepInfo"]
