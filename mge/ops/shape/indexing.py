"""Indexing ops: Subtensor, IndexingMultiAxisVec, their setters SetSubtensor,
IndexingSetMultiAxisVec and the scatter-add IndexingIncrMultiAxisVec (the static part of
an index is a param, index arrays are inputs).

Example:
    >>> from mge.ops.shape import Subtensor
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

from ...core.opdef import (
    Memory,
    MgeForm,
    OpDef,
    TensorInfo,
    normalize_axis,
    register_op,
)
from .shape import (
    StaticParamsOp,
)


class AxisSel(NamedTuple):
    """What an index does on one input axis: ``kind`` is ``all``, ``slice`` (``count``
    elements from ``start`` by ``step``), ``index`` (the element ``start``; the axis goes
    away) or ``vec`` (an index-tensor input)."""

    kind: str
    start: int = 0
    count: int = 0
    step: int = 1

    def as_slice(self) -> slice:
        """The Python slice selecting the same elements (any step sign)."""
        if self.count == 0:
            return slice(0, 0)
        stop = self.start + self.count * self.step
        return slice(self.start, None if stop < 0 else stop, self.step)

    def as_positive_slice(self) -> slice:
        """A slice with positive step over the same elements (reversed if ``step < 0``)."""
        if self.step > 0 or self.count == 0:
            return self.as_slice()
        first = self.start + (self.count - 1) * self.step
        return slice(first, self.start + 1, -self.step)


@dataclasses.dataclass(frozen=True)
class IndexingOp(StaticParamsOp):
    """Base of the indexing ops. ``items`` is a tuple of ``(axis, begin, end, step, idx)``
    descriptors, MegEngine's ``(axis, begin, end, step, idx)`` index items with the values
    static: ``None`` marks an absent field. An item either slices its axis like Python's
    ``begin:end:step`` or picks ``idx``; for the MultiAxisVec ops ``idx`` is ``True``,
    meaning "the next index-tensor input" (in item order)."""

    items: tuple[tuple[int, Any, Any, Any, Any], ...] = ()
    #: True for ops whose ``idx`` items take index tensors; set by subclasses
    vector_index: ClassVar[bool] = False
    #: number of leading inputs before the index tensors (data, value)
    nr_data_inputs: ClassVar[int] = 1

    def resolve(self, shape: Sequence[int], inputs: Sequence[TensorInfo] = ()) -> list[AxisSel]:
        """One ``AxisSel`` per axis of ``shape``; ``OpError`` for invalid or out-of-range items."""
        sels = [AxisSel("all", 0, d, 1) for d in shape]
        seen = set()
        for item in self.items:
            if len(item) != 5:
                self.fail(f"bad index item {item}", inputs)
            axis, begin, end, step, idx = item
            ax = normalize_axis(self, axis, len(shape), inputs)
            if ax in seen:
                self.fail(f"axis {axis} indexed twice", inputs)
            seen.add(ax)
            dim = shape[ax]
            if idx is None:
                if step == 0:
                    self.fail(f"slice step cannot be zero (axis {axis})", inputs)
                start, stop, stp = slice(begin, end, step).indices(dim)
                sels[ax] = AxisSel("slice", start, len(range(start, stop, stp)), stp)
            elif (begin, end, step) != (None, None, None):
                self.fail(f"item {item} has both a slice and an index", inputs)
            elif self.vector_index:
                if idx is not True:
                    self.fail(f"idx must be True (an index input), got {idx!r}", inputs)
                sels[ax] = AxisSel("vec")
            elif isinstance(idx, bool) or not isinstance(idx, int):
                self.fail(f"idx must be an int, got {idx!r}", inputs)
            elif not -dim <= idx < dim:
                self.fail(f"index {idx} out of range for axis {axis} of size {dim}", inputs)
            else:
                sels[ax] = AxisSel("index", idx % dim, 1, 1)
        return sels

    def index_inputs(self) -> int:
        """How many index-tensor inputs follow the data (and value) inputs."""
        return sum(1 for item in self.items if len(item) == 5 and item[4] is True)

    def check_inputs(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        want = self.nr_data_inputs + (self.index_inputs() if self.vector_index else 0)
        if len(inputs) != want:
            self.fail(f"expects {want} inputs, got {len(inputs)}", inputs)
        return self.infer(inputs)

    def result_layout(self, inputs: Sequence[TensorInfo]) -> tuple[tuple[int, ...], dict]:
        """The indexing result's shape, and the result axis of each sliced/kept input axis."""
        data = inputs[0]
        sels = self.resolve(data.shape, inputs)
        kept = [a for a, s in enumerate(sels) if s.kind in ("all", "slice")]
        vec_axes = [a for a, s in enumerate(sels) if s.kind == "vec"]
        vec_shape: tuple[int, ...] = ()
        if vec_axes:
            index_infos = inputs[self.nr_data_inputs:]
            if any(i.dtype.kind not in "iu" for i in index_infos):
                self.fail("index inputs must be integer tensors", inputs)
            vec_shape = broadcast_index_shapes(self, index_infos, inputs)
        if vec_axes and vec_axes == list(range(vec_axes[0], vec_axes[-1] + 1)):
            insert_at = sum(1 for a in kept if a < vec_axes[0])
        else:
            insert_at = 0
        shape: list[int] = []
        out_axis = {}
        for k, a in enumerate(kept):
            if k == insert_at:
                shape += vec_shape
            out_axis[a] = len(shape)
            shape.append(sels[a].count)
        if insert_at == len(kept):
            shape += vec_shape
        return tuple(shape), out_axis


def broadcast_index_shapes(op: OpDef, infos: Sequence[TensorInfo],
                           inputs: Sequence[TensorInfo]) -> tuple[int, ...]:
    """numpy broadcasting of the index tensors' shapes."""
    ndim = max(i.ndim for i in infos)
    out = [1] * ndim
    for info in infos:
        for k, d in enumerate(info.shape, start=ndim - info.ndim):
            if d != out[k] and 1 not in (d, out[k]):
                op.fail("index tensors do not broadcast together", inputs)
            out[k] = d if out[k] == 1 else out[k]
    return tuple(out)


@register_op
class Subtensor(IndexingOp):
    """Basic indexing with static slices and integer indices (``x[1, ::2, -3:]``)."""

    type_name = "Subtensor"
    format_rule = "same_ndim"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("Subtensor", ("IndexDescMaskDump",))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        return [TensorInfo(self.result_layout(inputs)[0], inputs[0].dtype)]

    def is_noop(self, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> bool:
        return not self.items


@register_op
class IndexingMultiAxisVec(IndexingOp):
    """Advanced indexing: integer index tensors (extra inputs) on some axes, static slices
    on others; the result is laid out as numpy's (index dims in place when the indexed
    axes are adjacent, first otherwise). Negative indices count from the end."""

    type_name = "IndexingMultiAxisVec"
    format_rule = "same_ndim"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("IndexingMultiAxisVec", ("IndexDescMaskDump",))
    vector_index = True

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if not self.index_inputs():
            self.fail("needs at least one index item", inputs)
        return [TensorInfo(self.result_layout(inputs)[0], inputs[0].dtype)]


class SetIndexingOp(IndexingOp):
    """Base of the setters: inputs ``(data, value, *indices)``; the output is ``data`` with
    the indexed part replaced by ``value`` (whose shape must be the indexed part's)."""

    nr_data_inputs = 2

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        data, value = inputs[0], inputs[1]
        shape, _ = self.result_layout(inputs)
        if value.shape != shape or value.dtype != data.dtype:
            self.fail(f"value must be {data.dtype}{list(shape)}", inputs)
        return [TensorInfo(data.shape, data.dtype)]


@register_op
class SetSubtensor(SetIndexingOp):
    """``data`` with ``data[items] = value`` (basic indexing, like :class:`Subtensor`)."""

    type_name = "SetSubtensor"
    format_rule = "first"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("SetSubtensor", ("IndexDescMaskDump",))


@register_op
class IndexingSetMultiAxisVec(SetIndexingOp):
    """``data`` with ``data[items] = value`` (advanced, like :class:`IndexingMultiAxisVec`)."""

    type_name = "IndexingSetMultiAxisVec"
    format_rule = "first"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("IndexingSetMultiAxisVec", ("IndexDescMaskDump",))
    vector_index = True


@register_op
class IndexingIncrMultiAxisVec(SetIndexingOp):
    """``data`` with ``value`` added at ``data[items]`` (advanced indexing); repeated
    positions add up (a scatter-add: the gradient of :class:`IndexingMultiAxisVec`)."""

    type_name = "IndexingIncrMultiAxisVec"
    format_rule = "first"
    memory = Memory.FRESH
    mge_form = MgeForm("IndexingIncrMultiAxisVec", ("IndexDescMaskDump",))
    vector_index = True

