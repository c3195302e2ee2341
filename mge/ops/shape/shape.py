"""Shape and data-movement ops: Reshape, Broadcast, Dimshuffle, AxisAddRemove, Concat,
Padding, GetVarShape, and the helpers the creation and indexing ops share.

Where MegEngine passes a static value as an extra input var (Reshape's target shape,
Broadcast's shape), it is a param here; the ``.mge`` writer/reader converts between the
two forms.

Example:
    >>> Reshape(shape=(2, -1)).infer([TensorInfo((2, 3, 4), np.dtype("float32"))])[0].shape
    (2, 12)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...core.opdef import (
    Memory,
    MgeForm,
    OpDef,
    TensorInfo,
    check_enum,
    normalize_axis,
    register_op,
)

#: ``OptionalAxisV1.INVALID_AXIS`` (== ``MAX_NDIM``): "no axis".
INVALID_AXIS = 7
MAX_NDIM = 7
INT32 = np.dtype("int32")
PADDING_MODES = ("REPLICATE", "REFLECT", "CONSTANT")


def freeze(value: Any) -> Any:
    """Lists (also nested) to tuples and numpy integers to ints, so params stay hashable."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, np.integer):
        return int(value)
    return value


class StaticParamsOp(OpDef):
    """Base for ops with sequence params: normalizes them to (nested) tuples on creation."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, freeze(getattr(self, f.name)))


def numel(shape: Sequence[int]) -> int:
    """Number of elements of ``shape``."""
    return math.prod(shape)


def check_shape_param(op: OpDef, shape: Sequence[int], allow_unspec: bool = False) -> None:
    """Every entry a non-negative int (or -1 when ``allow_unspec``)."""
    low = -1 if allow_unspec else 0
    if any(not isinstance(d, int) or d < low for d in shape):
        op.fail(f"invalid shape {shape}")


@register_op
class Reshape(StaticParamsOp):
    """Reshape to ``shape``; at most one entry may be -1 (inferred from the size).

    MegEngine passes the target shape as an input var and marks the unknown entry with
    the ``OptionalAxisV1`` param ``axis``; here ``shape`` is static and ``axis`` (when not
    ``INVALID_AXIS``) names the entry to infer, like a -1 at that position.
    """

    type_name = "Reshape"
    format_rule = "same_ndim"
    memory = Memory.WHOLE_VIEW
    mge_form = MgeForm("ReshapeV1", ("OptionalAxisV1",), static=(("shape", "shape"),))
    nr_inputs = (1, 2)
    shape: tuple[int, ...] = ()
    axis: int = INVALID_AXIS

    def with_sources(self, values: Sequence[np.ndarray]) -> Reshape:
        """This op with ``shape`` taken from the value of its shape input (input 1)."""
        shape = list(shape_from_source(self, values[0]))
        if self.axis != INVALID_AXIS and 0 <= self.axis < len(shape):
            shape[self.axis] = -1  # MegEngine ignores the value at the inferred axis
        return dataclasses.replace(self, shape=tuple(shape))

    def target_shape(self, inputs: Sequence[TensorInfo]) -> tuple[int, ...]:
        """The output shape for ``inputs[0]``, with the unknown entry filled in."""
        check_shape_param(self, self.shape, allow_unspec=True)
        unspec = [i for i, d in enumerate(self.shape) if d == -1]
        if self.axis != INVALID_AXIS:
            if not 0 <= self.axis < len(self.shape) or (unspec and unspec != [self.axis]):
                self.fail(f"axis {self.axis} does not fit the target shape", inputs)
            unspec = [self.axis]
        if len(unspec) > 1:
            self.fail("at most one -1 in the target shape", inputs)
        size = numel(inputs[0].shape)
        if not unspec:
            if numel(self.shape) != size:
                self.fail(f"cannot reshape {inputs[0].shape} to {self.shape}", inputs)
            return self.shape
        known = numel(d for i, d in enumerate(self.shape) if i != unspec[0])
        if known == 0 or size % known:
            self.fail(f"cannot reshape {inputs[0].shape} to {self.shape}", inputs)
        out = list(self.shape)
        out[unspec[0]] = size // known
        return tuple(out)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        op = resolved(self, inputs)
        return [TensorInfo(op.target_shape(inputs[:1]), inputs[0].dtype)]

    def with_batch(self, old: Sequence[TensorInfo], new: Sequence[TensorInfo]) -> OpDef:
        return follow_batch(self, old, new)

    def is_noop(self, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> bool:
        # to its input's own shape (remove_noop checks the infos match); a target read
        # from a shape input may differ at other input sizes
        return len(inputs) == 1


def scalar_made_1d(op: OpDef, inputs: Sequence[Any], outputs: Sequence[Any]) -> bool:
    """Whether ``op`` (a Reshape or AxisAddRemove) on these input/output vars (or infos)
    only makes a scalar 1-d: nothing in a ``.mge`` file, where scalars are 1-d (the
    writer writes no operator for it)."""
    return isinstance(op, (Reshape, AxisAddRemove)) and len(inputs) == 1 and \
        not inputs[0].shape and tuple(outputs[0].shape) == (1,)


#: dtype kinds a shape input may have (MegEngine casts floats that are whole numbers)
SHAPE_SOURCE_KINDS = "iuf"
#: the largest float MegEngine converts to a shape entry (exact in float32)
FLOAT_SHAPE_LIMIT = 1 << 24


def shape_from_source(op: OpDef, value: np.ndarray) -> tuple[int, ...]:
    """A shape input's value (a 1-d integer or float vector) as a shape tuple.

    Like MegEngine, a float vector is read when every entry is a whole number of
    magnitude at most 2**24 (real MegEngine's traced ``interpolate(scale_factor=...)``
    gives ``Resize`` a float32 ``floor(shape * scale)``); other floats are refused.
    """
    flat = np.asarray(value)
    if flat.ndim > 1 or flat.dtype.kind not in SHAPE_SOURCE_KINDS:
        op.fail(f"the shape input must be a 1-d integer or float vector, got "
                f"{flat.dtype}{list(flat.shape)}")
    flat = flat.reshape(-1)
    if flat.dtype.kind == "f":
        flat = flat.astype(np.float64)
        if not (np.isfinite(flat) & (np.abs(flat) <= FLOAT_SHAPE_LIMIT)
                & (np.floor(flat) == flat)).all():
            op.fail(f"cannot read the float shape input {flat.tolist()} as a shape without "
                    "precision loss (entries must be whole numbers up to 2**24)")
    return tuple(int(d) for d in flat)


def resolved(op: Any, inputs: Sequence[TensorInfo]) -> Any:
    """``op`` with its static params from its source inputs (the trailing inputs beyond
    its least input count) when their values are known; ``op`` itself otherwise.

    Traced and loaded graphs keep the var a static param was computed from (a
    ``GetVarShape`` chain: ``Reshape``'s target, ``Resize``'s size) as such an input next
    to the param, so the graph can be re-planned for other input sizes
    (:func:`mge.runtime.specialize.specialize`).
    """
    sources = inputs[min(op.nr_inputs):]
    for source in sources:
        if source.ndim != 1 or source.dtype.kind not in SHAPE_SOURCE_KINDS:
            op.fail(f"a shape input must be a 1-d integer or float vector, got {source}",
                    inputs)
    if not sources or any(source.value is None for source in sources):
        return op
    return op.with_sources([source.value for source in sources])


def follow_batch(op: Reshape | Broadcast, old: Sequence[TensorInfo],
                 new: Sequence[TensorInfo]) -> OpDef:
    """``op`` with its target shape's batch rewritten when its input's batch changed (a
    target starting with the old batch size follows the new one)."""
    if not old or not old[0].shape or not new[0].shape or not op.shape:
        return op
    b_old, b_new = old[0].shape[0], new[0].shape[0]
    if b_old == b_new or op.shape[0] != b_old:
        return op
    return dataclasses.replace(op, shape=(b_new, *op.shape[1:]))


def broadcast_to_shape(op: OpDef, src: tuple[int, ...], dst: tuple[int, ...],
                       inputs: Sequence[TensorInfo]) -> None:
    """Fail unless ``src`` broadcasts to exactly ``dst`` (numpy rules)."""
    if len(src) > len(dst) or any(
        s not in (1, d) for s, d in zip(reversed(src), reversed(dst), strict=False)
    ):
        op.fail(f"cannot broadcast {src} to {dst}", inputs)


@register_op
class Broadcast(StaticParamsOp):
    """Broadcast the input to ``shape`` (numpy rules; MegEngine takes the shape as a var)."""

    type_name = "Broadcast"
    format_rule = "same_ndim"
    memory = Memory.VIEW
    mge_form = MgeForm("Broadcast", ("Empty",), static=(("shape", "shape"),))
    nr_inputs = (1, 2)
    shape: tuple[int, ...] = ()

    def with_sources(self, values: Sequence[np.ndarray]) -> Broadcast:
        """This op with ``shape`` taken from the value of its shape input (input 1)."""
        return dataclasses.replace(self, shape=shape_from_source(self, values[0]))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        op = resolved(self, inputs)
        check_shape_param(op, op.shape)
        broadcast_to_shape(op, inputs[0].shape, op.shape, inputs)
        return [TensorInfo(op.shape, inputs[0].dtype)]

    def with_batch(self, old: Sequence[TensorInfo], new: Sequence[TensorInfo]) -> OpDef:
        return follow_batch(self, old, new)

    def is_noop(self, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> bool:
        return len(inputs) == 1  # as Reshape.is_noop


@register_op
class Dimshuffle(StaticParamsOp):
    """Permute axes by ``pattern``; -1 entries insert new axes of size 1.

    Input axes left out of ``pattern`` must have size 1. ``ndim`` is the input's ndim
    (MegEngine stores it; 0 means "take it from the input").
    """

    type_name = "Dimshuffle"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("Dimshuffle", ("Dimshuffle",))
    nr_inputs = (1,)
    pattern: tuple[int, ...] = ()
    ndim: int = 0

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        shape = inputs[0].shape
        if self.ndim and self.ndim != len(shape):
            self.fail(f"expects a {self.ndim}-d input", inputs)
        used = [p for p in self.pattern if p != -1]
        if len(self.pattern) > MAX_NDIM or len(set(used)) != len(used) or any(
            not isinstance(p, int) or not 0 <= p < len(shape) for p in used
        ):
            self.fail(f"bad pattern {self.pattern}", inputs)
        dropped = [i for i in range(len(shape)) if i not in used and shape[i] != 1]
        if dropped:
            self.fail(f"pattern drops non-1 axes {dropped}", inputs)
        return [TensorInfo(tuple(1 if p == -1 else shape[p] for p in self.pattern),
                           inputs[0].dtype)]

    def is_noop(self, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> bool:
        return tuple(self.pattern) == tuple(range(inputs[0].ndim))


@register_op
class AxisAddRemove(StaticParamsOp):
    """Add (``ADD_1``) or remove (``REMOVE``) size-1 axes, one ``(method, axis)`` at a time.

    Each desc applies to the shape left by the previous one; negative axes count from
    the end (for ``ADD_1``, of the shape after adding).
    """

    type_name = "AxisAddRemove"
    memory = Memory.WHOLE_VIEW
    mge_form = MgeForm("AxisAddRemove", ("AxisAddRemove",))
    nr_inputs = (1,)
    desc: tuple[tuple[str, int], ...] = ()

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        shape = list(inputs[0].shape)
        for method, axis in self.desc:
            if method == "ADD_1":
                shape.insert(normalize_axis(self, axis, len(shape) + 1, inputs), 1)
            elif method == "REMOVE":
                ax = normalize_axis(self, axis, len(shape), inputs)
                if shape[ax] != 1:
                    self.fail(f"cannot remove axis {axis} of size {shape[ax]}", inputs)
                del shape[ax]
            else:
                self.fail(f"unknown method {method!r}; expected ADD_1 or REMOVE", inputs)
        if len(shape) > MAX_NDIM:
            self.fail(f"result has more than {MAX_NDIM} dims", inputs)
        return [TensorInfo(tuple(shape), inputs[0].dtype)]

    def is_noop(self, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> bool:
        return True  # adds and removes the same axes (remove_noop checks the infos match)

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The result shape for an input of ``shape`` (for kernels)."""
        return self.infer([TensorInfo(shape, INT32)])[0].shape


@register_op
class Concat(OpDef):
    """Concatenate the inputs along ``axis`` (same dtype; other dims equal)."""

    type_name = "Concat"
    format_rule = "any"
    memory = Memory.FRESH
    mge_form = MgeForm("Concat", ("Axis",))
    axis: int = 0

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if not inputs:
            self.fail("needs at least one input")
        first = inputs[0]
        if first.ndim == 0:
            self.fail("cannot concatenate 0-d tensors", inputs)
        axis = normalize_axis(self, self.axis, first.ndim, inputs)
        if len({i.dtype for i in inputs}) != 1:
            self.fail("inputs must share one dtype", inputs)
        for info in inputs[1:]:
            if info.ndim != first.ndim or any(
                info.shape[k] != first.shape[k] for k in range(first.ndim) if k != axis
            ):
                self.fail(f"shapes differ outside axis {self.axis}", inputs)
        shape = list(first.shape)
        shape[axis] = sum(i.shape[axis] for i in inputs)
        return [TensorInfo(tuple(shape), first.dtype)]


@register_op
class Padding(OpDef):
    """Pad each dim k by ``front_offset_dimk`` before and ``back_offset_dimk`` after.

    ``padding_mode``: ``CONSTANT`` (fill ``padding_val``), ``REPLICATE`` (repeat the
    edge) or ``REFLECT`` (mirror without the edge; offsets must be smaller than the dim).
    """

    type_name = "Padding"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("Padding", ("Padding",))
    nr_inputs = (1,)
    front_offset_dim0: int = 0
    front_offset_dim1: int = 0
    front_offset_dim2: int = 0
    front_offset_dim3: int = 0
    front_offset_dim4: int = 0
    front_offset_dim5: int = 0
    front_offset_dim6: int = 0
    back_offset_dim0: int = 0
    back_offset_dim1: int = 0
    back_offset_dim2: int = 0
    back_offset_dim3: int = 0
    back_offset_dim4: int = 0
    back_offset_dim5: int = 0
    back_offset_dim6: int = 0
    padding_val: float = 0.0
    padding_mode: str = "CONSTANT"

    @classmethod
    def from_pad_width(cls, pad_width: Sequence[tuple[int, int]], **kwargs: Any) -> Padding:
        """Build from numpy-style ``((before, after), ...)`` pairs, one per leading dim."""
        if len(pad_width) > MAX_NDIM:
            raise ValueError(f"Padding supports at most {MAX_NDIM} dims, got {len(pad_width)}")
        offsets = {}
        for k, (front, back) in enumerate(pad_width):
            offsets[f"front_offset_dim{k}"] = int(front)
            offsets[f"back_offset_dim{k}"] = int(back)
        return cls(**offsets, **kwargs)

    def pad_width(self, ndim: int) -> list[tuple[int, int]]:
        """The ``(front, back)`` offsets of the first ``ndim`` dims."""
        return [(getattr(self, f"front_offset_dim{k}"), getattr(self, f"back_offset_dim{k}"))
                for k in range(ndim)]

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "padding_mode", PADDING_MODES)
        shape = inputs[0].shape
        if len(shape) > MAX_NDIM:
            self.fail(f"supports at most {MAX_NDIM} dims", inputs)
        offsets = self.pad_width(MAX_NDIM)
        if any(v < 0 for pair in offsets for v in pair):
            self.fail("offsets must be non-negative", inputs)
        if any(pair != (0, 0) for pair in offsets[len(shape):]):
            self.fail("offsets given for dims the input does not have", inputs)
        used = offsets[:len(shape)]
        for dim, (front, back) in zip(shape, used, strict=True):
            if self.padding_mode == "REFLECT" and max(front, back) >= max(dim, 1):
                self.fail("REFLECT offsets must be smaller than the padded dim", inputs)
            if self.padding_mode == "REPLICATE" and dim == 0 and front + back:
                self.fail("cannot REPLICATE-pad an empty dim", inputs)
        out = tuple(d + f + b for d, (f, b) in zip(shape, used, strict=True))
        return [TensorInfo(out, inputs[0].dtype)]


@register_op
class GetVarShape(OpDef):
    """The input's shape as an int32 vector (or one dim of it when ``axis`` is set)."""

    type_name = "GetVarShape"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("GetVarShapeV1", ("OptionalAxisV1",))
    nr_inputs = (1,)
    axis: int = INVALID_AXIS

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        shape = np.asarray(inputs[0].shape, dtype=INT32)
        if self.axis != INVALID_AXIS:
            shape = shape[normalize_axis(self, self.axis, len(shape), inputs)].reshape(1)
        return [TensorInfo(shape.shape, INT32, shape)]


@register_op
class Diag(OpDef):
    """The ``k``-th diagonal (MegEngine ``Diag``): a 1-d input becomes the square matrix
    with it on diagonal ``k`` (zeros elsewhere); a 2-d input gives its diagonal ``k`` as a
    1-d tensor (``k > 0`` above the main diagonal, ``k < 0`` below)."""

    type_name = "Diag"
    memory = Memory.FRESH
    mge_form = MgeForm("Diag", ("Diag",))
    nr_inputs = (1,)
    k: int = 0

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        x = inputs[0]
        if x.ndim == 1:
            n = x.shape[0] + abs(self.k)
            return [TensorInfo((n, n), x.dtype)]
        if x.ndim != 2:
            self.fail("input must be 1-d or 2-d", inputs)
        rows, cols = x.shape
        size = min(rows, cols - self.k) if self.k >= 0 else min(rows + self.k, cols)
        return [TensorInfo((max(size, 0),), x.dtype)]
