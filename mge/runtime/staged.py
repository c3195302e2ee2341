"""Run models whose shapes depend on input values: one static plan per stage.

A :class:`~mge.serialization.mge_staged.StagedModel` (a MegEngine dump with dynamic
shape vars: ``F.vision.nms``, ``F.cond_take``) is a chain of static stages. The first
stage depends only on input shapes: its plans are cached like any graph's
(:class:`~.plan.PlanCache`). Each later stage is read and planned from the values the
stages before it computed (a kept-box count, a selected-element count): MegEngine
re-infers the shapes of its dynamic vars once their values are known; this is the same
step, on whole static pieces. Those stages and their plans are kept
(:class:`StageCache`: by the given vars' shapes and dtypes, then by the values the
reading depended on), so a run whose counts were seen before reads and plans nothing.

:class:`StagedPlanCache` and :class:`StagedPlan` answer what ``PlanCache`` and ``Plan``
answer to ``mge.lite`` (inputs, outputs, ``plan(shapes)``, ``run_feeds``).

Example:
    >>> staged = StagedModel.from_bytes(open("nms.mge", "rb").read())  # doctest: +SKIP
    >>> plan = StagedPlanCache(staged, PlanOptions(backend="numpy")).plan()  # doctest: +SKIP
    >>> kept_boxes, kept_scores = plan.run_feeds([boxes, scores])      # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..graph.ir import Graph, VarNode
from ..serialization.mge_staged import Stage, StagedModel, StageRunner, run_stages
from .plan import Plan, PlanCache, PlanOptions
from .specialize import ShapeError


class OutputSpec(NamedTuple):
    """A model output: name, and dtype and shape as far as known before running (the
    shape of a value-dependent output is its last run's; ``(0,)`` before the first)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


class Signature(NamedTuple):
    """The inputs (graph input vars) and outputs of a staged model."""

    inputs: list[VarNode]
    outputs: list[OutputSpec]


def _signature(staged: StagedModel, shapes: Mapping[str, tuple[int, ...]],
               last: Mapping[int, np.ndarray] | None = None) -> Signature:
    graph = Graph()
    inputs = [graph.add_input(name, shapes.get(name, shape), dtype)
              for name, _, shape, dtype in staged.inputs]
    outputs = []
    for fid, name in staged.outputs:
        info = staged.model.vars[fid] if staged.model.vars is not None else None
        value = (last or {}).get(fid)
        if value is not None:
            outputs.append(OutputSpec(name, tuple(value.shape), value.dtype))
        else:
            dtype = info.dtype.numpy if info is not None and info.dtype is not None and \
                info.dtype.numpy is not None else np.dtype("float32")
            outputs.append(OutputSpec(name, (0,), np.dtype(dtype)))
    return Signature(inputs, outputs)


class StageCache:
    """The later stages read so far and their plans, the least recently used dropped past
    ``limit``: by :meth:`StagedModel.stage_key`, then the first whose
    :class:`~mge.serialization.mge_staged.StageDeps` hold for the new values.

    Example:
        >>> cache = StageCache(staged, PlanOptions(backend="numpy"))  # doctest: +SKIP
        >>> stage, plan = cache.get(start, values)                    # doctest: +SKIP
    """

    def __init__(self, staged: StagedModel, options: PlanOptions, limit: int = 64) -> None:
        self.staged = staged
        self.options = options
        self.limit = limit
        self.reads = 0  # stages read (and planned): misses
        self._entries: OrderedDict[tuple[Hashable, int], tuple[Stage, Plan | None]] = \
            OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, start: int, values: Mapping[int, np.ndarray]) -> tuple[Stage, Plan | None]:
        """The stage from operator ``start`` for ``values`` and its plan (``None`` when
        the stage computes nothing), read and planned only when no kept one fits."""
        key = self.staged.stage_key(start, values)
        with self._lock:
            for entry_key, (stage, plan) in reversed(self._entries.items()):
                if entry_key[0] == key and stage.deps.hold(values):
                    self._entries.move_to_end(entry_key)
                    return stage, plan
        stage = self.staged.stage(start, values)
        plan = Plan(stage.graph, self.options) if stage.graph.outputs else None
        with self._lock:
            self.reads += 1
            self._entries[(key, self.reads)] = (stage, plan)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)
        return stage, plan


class StagedPlan:
    """The stages of one staged model for some input shapes (see the module doc)."""

    def __init__(self, cache: StagedPlanCache, shapes: Mapping[str, tuple[int, ...]]) -> None:
        self.cache = cache
        self.graph = _signature(cache.staged, shapes)
        self.inputs = self.graph.inputs
        self.outputs = self.graph.outputs
        first = cache.first.graph.inputs
        self._first = cache.first.plan({v.name: shapes[v.name] for v in first
                                        if v.name in shapes})
        self.options = cache.options
        self.backend = self._first.backend

    def run_feeds(self, feeds: Sequence[Any], observe: Callable | None = None
                  ) -> list[np.ndarray]:
        """Run on the inputs in ``self.inputs`` order; the outputs in model order."""
        staged = self.cache.staged
        if len(feeds) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} inputs, got {len(feeds)}")
        named: dict[str, np.ndarray] = {}
        for var, feed in zip(self.inputs, feeds, strict=True):
            arr = np.asarray(feed)
            if arr.shape != var.shape:
                raise ShapeError(f"input {var.name!r}: expected shape {var.shape}, got "
                                 f"{arr.shape}")
            named[var.name or ""] = arr

        def runner(plan: Plan | None) -> StageRunner:
            def run(by_name: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
                assert plan is not None  # a stage without outputs is not run
                return plan.run_feeds([by_name[v.name or ""] for v in plan.inputs], observe)
            return run

        def get(start: int, values: Mapping[int, np.ndarray]) -> tuple[Stage, StageRunner]:
            if start == 0:
                return self.cache.first_stage, runner(self._first)
            stage, plan = self.cache.stages.get(start, values)
            return stage, runner(plan)

        results = run_stages(staged, named, get)
        self.cache.last = {fid: r for (fid, _), r in zip(staged.outputs, results, strict=True)}
        return results


class StagedPlanCache:
    """Plans of a staged model by input shapes: the first stage's through a
    :class:`~.plan.PlanCache`, the later ones through a :class:`StageCache`."""

    def __init__(self, staged: StagedModel, options: PlanOptions | None = None) -> None:
        self.staged = staged
        self.options = options or PlanOptions()
        self.first_stage = staged.stage(0, {})
        self.first = PlanCache(self.first_stage.graph, self.options)
        self.stages = StageCache(staged, self.options)
        self.last: dict[int, np.ndarray] = {}  # the outputs of the latest run

    @staticmethod
    def signature_of(staged: StagedModel) -> Signature:
        """The inputs and outputs of ``staged`` as read from its file."""
        return _signature(staged, {})

    @property
    def graph(self) -> Signature:
        """The model's inputs and outputs (output shapes: the latest run's)."""
        return _signature(self.staged, {}, self.last)

    def plan(self, shapes: Mapping[str, Sequence[int]] | None = None) -> StagedPlan:
        """The stages for these input shapes (inputs not named keep the file's)."""
        names = {name for name, *_ in self.staged.inputs}
        unknown = set(shapes or {}) - names
        if unknown:
            raise KeyError(f"the model has no input {sorted(unknown)}; its inputs are "
                           f"{sorted(names)}")
        return StagedPlan(self, {n: tuple(int(d) for d in s) for n, s in (shapes or {}).items()})


__all__ = ["OutputSpec", "Signature", "StageCache", "StagedPlan", "StagedPlanCache"]
