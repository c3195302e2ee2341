"""Models whose shapes depend on input values, read in stages.

MegEngine graphs may hold *dynamic shape vars*: ``F.vision.nms`` slices its kept indices
by the count ``NMSKeep`` computes, ``F.cond_take`` returns as many elements as its mask
selects. mge's graphs have static shapes, so such a model is read in *stages*, the way
MegEngine's executor re-infers shapes once a value is known:

* stage 0 is the file read as usual up to the first operator whose static input (an
  index bound, a target shape, a count) depends on input values
  (:class:`~.mge_graph.ValueDependentModel`); its outputs are the vars later operators
  read;
* once those values are computed, the next stage is read from that operator on, with
  the computed vars as its inputs (``@var<file var id>``) and their small values known,
  so the operator's static inputs are values again; and so on to the end.

Each stage is a static graph any plan backend runs (:mod:`mge.runtime.staged` drives
them). Reading a stage never executes code from the file. A stage records what its reading
depended on (:class:`StageDeps`: the given values it consulted, the counts its
``CondTake`` masks selected), so a stage read once serves every later run whose values
agree there (:meth:`StagedModel.stage_key`, :meth:`StageDeps.hold`).

Example:
    >>> staged = StagedModel.from_bytes(open("nms.mge", "rb").read())  # doctest: +SKIP
    >>> first = staged.stage(0, {})                                    # doctest: +SKIP
    >>> first.stop < len(staged.model.operators)                       # doctest: +SKIP
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np

from ..core.opdef import TensorInfo
from ..graph.ir import Graph, VarNode
from ..graph.static_values import STATIC_EVAL_LIMIT
from ..ops.shape import CondTake, GetVarShape
from .fbs import MgeFormatError, ModelFile, Operator, read_model
from .memory_budget import resolve_budget
from .mge_graph import _CONST_TYPES, _HOLDER_TYPES, ValueDependentModel, _Reader
from .mge_oprs import ConvertError, read_op

#: graph input name of the var with file id ``N`` computed by an earlier stage
GIVEN_PREFIX = "@var"


def given_name(file_id: int) -> str:
    """The stage-graph input name of file var ``file_id`` computed by an earlier stage."""
    return f"{GIVEN_PREFIX}{file_id}"


@dataclasses.dataclass(frozen=True)
class StageDeps:
    """What reading a stage depended on besides the file and the given vars' shapes and
    dtypes: ``values``, the given vars (file var id -> value) whose values, or values
    computed from them, became static params (a kept count, a slice bound); ``counts``,
    ``(mask file var id, op, selected count)`` of each ``CondTake`` sized from a given
    mask."""

    values: dict[int, np.ndarray]
    counts: tuple[tuple[int, CondTake, int], ...]

    def hold(self, values: Mapping[int, np.ndarray]) -> bool:
        """Whether reading with ``values`` (same shapes and dtypes) gives the same stage."""
        for fid, want in self.values.items():
            got = values.get(fid)
            if got is None or got.shape != want.shape or got.dtype != want.dtype \
                    or not np.array_equal(got, want):
                return False
        return all(fid in values and int(np.count_nonzero(op.selected(values[fid]))) == n
                   for fid, op, n in self.counts)


@dataclasses.dataclass
class Stage:
    """One static piece of a staged model: file operators ``start`` to ``stop``.

    ``graph``'s inputs are model inputs (their own names) and vars of earlier stages
    (:func:`given_name`); ``outputs[k]`` is the file var id of ``graph.outputs[k]``;
    ``aliases`` maps the other file var ids this stage defines that later stages read:
    to an input's name (an operator mge reads as the identity of its input) or to the
    output file var id holding the same var. ``deps``: what the reading depended on.
    """

    graph: Graph
    start: int
    stop: int
    outputs: list[int]
    aliases: dict[int, str | int]
    deps: StageDeps = StageDeps({}, ())


class _StageReader(_Reader):
    """A reader of file operators from ``start`` on, given the vars earlier stages
    computed: their values known where small (shapes, counts, bounds) and for ``CondTake``
    masks."""

    def __init__(self, staged: StagedModel, start: int, values: Mapping[int, np.ndarray]
                 ) -> None:
        super().__init__(staged.model, staged.source, staged.budget)
        self.runtime: dict[int, np.ndarray] = {}  # graph var id -> value of a given var
        # graph var id -> the given file vars its static value was computed from
        self.origin: dict[int, frozenset[int]] = {}
        self.used: set[int] = set()  # given file vars whose values became params
        self.counts: list[tuple[int, CondTake, int]] = []
        self.folding = False
        for fid in sorted(staged.needed_from(start)):
            k = staged.producer[fid]
            fop = staged.model.operators[k]
            if fop.type in _CONST_TYPES + _HOLDER_TYPES:
                if fid not in self.vars:  # constants are read again, not passed on
                    for out_id, var in zip(fop.outputs, self.source_op(fop), strict=True):
                        self.vars[out_id] = var
                continue
            if fid not in values:
                raise MgeFormatError(staged.source, f"var {fid} of operator #{k} "
                                     f"({fop.type}) is needed from operator #{start} on "
                                     "but was not computed")
            self.give(fid, values[fid])

    def give(self, fid: int, value: np.ndarray) -> None:
        """Make file var ``fid`` an input of the stage, with its value ``value``."""
        value = np.asarray(value)
        var = self.graph.add_input(given_name(fid), value.shape or (1,), value.dtype)
        self.vars[fid] = var
        self.runtime[var.id] = value
        self.origin[var.id] = frozenset((fid,))
        if value.size <= STATIC_EVAL_LIMIT:  # shapes, counts, bounds (and Linspace ends)
            self.static[var.id] = value.reshape(var.shape)

    def static_value(self, var: VarNode) -> np.ndarray | None:
        value = super().static_value(var)
        if value is not None and not self.folding:
            self.used.update(self.origin.get(var.id, ()))
        return value

    def fold(self, outs: Sequence[VarNode], checked: Sequence[TensorInfo] | None = None
             ) -> None:
        """Fold as usual; the outputs' values come from the given vars their inputs' do
        (``GetVarShape`` reads only shapes)."""
        node = outs[0].owner
        origin: frozenset[int] = frozenset()
        if not isinstance(node.op, GetVarShape):
            for v in node.inputs:
                if v.id in self.static:
                    origin |= self.origin.get(v.id, frozenset())
        self.folding = True
        try:
            super().fold(outs, checked)
        finally:
            self.folding = False
        for v in outs:
            if origin and v.id in self.static:
                self.origin[v.id] = origin

    def deps(self, values: Mapping[int, np.ndarray]) -> StageDeps:
        """What the operators read so far depended on (see :class:`StageDeps`)."""
        return StageDeps({fid: np.array(values[fid]) for fid in sorted(self.used)},
                         tuple(self.counts))

    def cond_take(self, fop: Operator) -> list[VarNode]:
        inputs = [self.var(i) for i in fop.inputs]
        mask = self.runtime.get(inputs[1].id) if len(inputs) == 2 else None
        if mask is None:
            return super().cond_take(fop)
        op, inputs, _ = read_op(fop, inputs, self.static_value)
        if not isinstance(op, CondTake):
            raise ConvertError(f"CondTake read as {op.type_name}")
        count = int(np.count_nonzero(op.selected(mask)))
        self.counts.append((min(self.origin[inputs[1].id]), op, count))
        op = dataclasses.replace(op, size=count)
        return self.add_folded(op, inputs, name=fop.name)


#: runs one stage's graph: its feeds by graph input name -> its outputs, in order
StageRunner = Callable[[Mapping[str, np.ndarray]], Sequence[np.ndarray]]


def run_stages(staged: StagedModel, feeds: Mapping[str, np.ndarray],
               get: Callable[[int, Mapping[int, np.ndarray]], tuple[Stage, StageRunner]]
               ) -> list[np.ndarray]:
    """Run a staged model on ``feeds`` (model input name -> value; shapes checked by the
    caller): ``get(start, values)`` gives the stage from operator ``start`` and its
    runner (the first stage: ``start`` 0, ``values`` the model inputs). The outputs in
    model order."""
    by_name = {name: fid for name, fid, _, _ in staged.inputs}
    values = {by_name[name]: np.asarray(feeds[name]) for name in by_name}

    def file_id(name: str) -> int:
        return int(name[len(GIVEN_PREFIX):]) if name.startswith(GIVEN_PREFIX) \
            else by_name[name]

    start = 0
    while True:
        stage, run = get(start, values)
        if stage.graph.outputs:
            results = run({v.name or "": values[file_id(v.name or "")]
                           for v in stage.graph.inputs})
            values.update((fid, np.asarray(r)) for fid, r in
                          zip(stage.outputs, results, strict=True))
        for fid, same in stage.aliases.items():
            values[fid] = values[same if isinstance(same, int) else file_id(same)]
        if stage.stop == len(staged.model.operators):
            return [values[fid] for fid, _ in staged.outputs]
        start = stage.stop
        # the model inputs stay: a later stage may hold a model input's Host2DeviceCopy
        # (MegEngine writes one where the traced code first used it)
        keep = staged.needed_from(start) | set(by_name.values())
        values = {fid: v for fid, v in values.items() if fid in keep}


class StagedModel:
    """A ``.mge`` model read in stages (see the module doc).

    Attributes:
        model: the parsed file.
        inputs: ``(name, file var id, shape, dtype)`` of every ``Host2DeviceCopy``.
        outputs: ``(file var id, name)`` of the model outputs, MegEngine's order.
    """

    def __init__(self, model: ModelFile, source: str = "<bytes>",
                 memory_budget: int | str | None = None) -> None:
        self.model = model
        self.source = source
        self.budget = resolve_budget(memory_budget)
        self.producer = {fid: k for k, fop in enumerate(model.operators) for fid in fop.outputs}
        scratch = _Reader(model, source, self.budget)
        self.inputs: list[tuple[str, int, tuple[int, ...], np.dtype]] = []
        for fop in model.operators:
            if fop.type == "Host2DeviceCopy":
                (var,) = scratch.source_op(fop)
                self.inputs.append((var.name or "", fop.outputs[0], var.shape, var.dtype))
        self.outputs = [(fid, name or model.var_name(fid) or f"output_{k}")
                        for k, (fid, name) in enumerate(model.resolved_outputs())]

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>",
                   memory_budget: int | str | None = None) -> StagedModel:
        """Parse a ``.mge`` file's bytes."""
        return cls(read_model(data, source), source, memory_budget)

    def needed_from(self, start: int) -> set[int]:
        """File var ids defined before operator ``start`` that operators from ``start``
        on, or the model outputs, read."""
        wanted = {fid for fid, _ in self.outputs}
        for fop in self.model.operators[start:]:
            wanted.update(fop.inputs)
        return {fid for fid in wanted if self.producer.get(fid, start) < start}

    def stage_key(self, start: int, values: Mapping[int, np.ndarray]) -> Hashable:
        """What every reading of the stage from ``start`` depends on: the given vars'
        shapes and dtypes (their values as far as :class:`StageDeps` records), and the
        model inputs' (one may be fed in this stage: its ``Host2DeviceCopy`` comes later)."""
        needed = self.needed_from(start) | {fid for _, fid, _, _ in self.inputs}
        return (start, tuple((fid, np.shape(v), np.asarray(v).dtype.str)
                             for fid, v in sorted(values.items()) if fid in needed))

    def stage(self, start: int, values: Mapping[int, np.ndarray]) -> Stage:
        """The stage from operator ``start``, given the values of the vars earlier stages
        computed (``values``: file var id -> array; model inputs included).

        Raises:
            MgeFormatError: the operator at ``start`` still depends on values it cannot
                know, or any reading problem (naming the operator).
        """
        reader = _StageReader(self, start, values)
        ops = self.model.operators
        stop = start
        while stop < len(ops):
            if start and ops[stop].type == "Host2DeviceCopy" and ops[stop].outputs[0] in values:
                reader.give(ops[stop].outputs[0], values[ops[stop].outputs[0]])
                stop += 1
                continue
            try:
                reader.read_operator(stop)
            except ValueDependentModel as exc:
                if stop == start:
                    raise MgeFormatError(self.source, f"{exc.problem} (even with the values "
                                         "of its inputs known)") from None
                break
            stop += 1
        defined = {fid for k in range(start, stop) for fid in ops[k].outputs}
        outputs: list[int] = []
        aliases: dict[int, str | int] = {}
        first: dict[int, int] = {}  # graph var id -> the first file var id it stands for
        for fid in sorted(self.needed_from(stop) & defined):
            var = reader.vars.get(fid)
            if var is None or var.is_const:
                continue  # omitted outputs; constants are read again where needed
            if var.is_input:
                aliases[fid] = var.name or ""
            elif var.id in first:
                aliases[fid] = first[var.id]
            else:
                first[var.id] = fid
                outputs.append(fid)
        reader.graph.outputs = [reader.vars[fid] for fid in outputs]
        return Stage(reader.graph, start, stop, outputs, aliases, reader.deps(values))


__all__ = ["GIVEN_PREFIX", "Stage", "StageDeps", "StageRunner", "StagedModel", "given_name",
           "run_stages"]
