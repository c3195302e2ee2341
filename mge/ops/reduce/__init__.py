"""Reductions and sorting: Reduce, Argmax, Argmin, TopK, ArgsortForward.

Like MegEngine's, ``Reduce``, ``Argmax`` and ``Argmin`` keep the reduced axis with size 1
(``F.sum(keepdims=False)`` removes it afterwards with ``AxisAddRemove``). ``TopK`` and
``ArgsortForward`` work on the rows of a 2-d input.

Example:
    >>> Reduce(mode="SUM", axis=1).infer([TensorInfo((2, 3), np.dtype("float32"))])[0].shape
    (2, 1)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

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
from ...dtype import is_float

REDUCE_MODES = ("SUM", "SUM_SQR", "PRODUCT", "MIN", "MAX", "MEAN")
#: Reduce's ``data_type`` members mge computes (quantized ones are not supported).
REDUCE_DATA_TYPES = ("DEFAULT", "FLOAT_IO16xC32", "FLOAT_O32xC32", "FLOAT_O16xC32")
#: Reduce's default ``axis`` (INT_MAX): in MegEngine "reduce to a target shape var"; here,
#: reduce all elements to a 0-d tensor.
REDUCE_ALL = 2**31 - 1
TOPK_MODES = ("KTH_ONLY", "VALUE_IDX_NOSORT", "VALUE_IDX_SORTED")
ARGSORT_ORDERS = ("ASCENDING", "DESCENDING")
INT32 = np.dtype("int32")
_NUMERIC = "iuf"


def _check_numeric(op: OpDef, inputs: Sequence[TensorInfo]) -> None:
    if inputs[0].dtype.kind not in _NUMERIC and not is_float(inputs[0].dtype):
        op.fail(f"needs a numeric input, got {inputs[0].dtype}", inputs)


def _reduce_shape(op: OpDef, axis: int, inputs: Sequence[TensorInfo],
                  needs_elements: bool) -> tuple[int, ...]:
    """The input shape with ``axis`` set to 1 (``()`` for ``REDUCE_ALL``)."""
    shape = inputs[0].shape
    if axis == REDUCE_ALL:
        if needs_elements and 0 in shape:
            op.fail("cannot reduce an empty tensor", inputs)
        return ()
    ax = normalize_axis(op, axis, len(shape), inputs)
    if needs_elements and shape[ax] == 0:
        op.fail(f"cannot reduce the empty axis {axis}", inputs)
    return shape[:ax] + (1,) + shape[ax + 1:]


@register_op
class Reduce(OpDef):
    """Reduce along ``axis`` keeping it as size 1 (``REDUCE_ALL``: all elements, 0-d out).

    ``mode``: SUM, SUM_SQR, PRODUCT, MIN, MAX or MEAN. ``data_type`` DEFAULT keeps the
    input dtype; the ``FLOAT_*xC32`` members compute in float32 and output float16
    (``IO16``: float16 in and out; ``O16``) or float32 (``O32``). Integer sums wrap.
    """

    type_name = "Reduce"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("ReduceV2", ("Reduce",))
    version = 2
    nr_inputs = (1,)
    mode: str = "SUM"
    axis: int = REDUCE_ALL
    data_type: str = "DEFAULT"

    def output_dtype(self, inputs: Sequence[TensorInfo]) -> np.dtype:
        dtype = inputs[0].dtype
        if self.data_type == "DEFAULT":
            return dtype
        if dtype.kind != "f" or (self.data_type == "FLOAT_IO16xC32" and dtype != np.float16):
            self.fail(f"data_type {self.data_type} does not take {dtype} input", inputs)
        return np.dtype("float32" if self.data_type == "FLOAT_O32xC32" else "float16")

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "mode", REDUCE_MODES)
        check_enum(self, "data_type", REDUCE_DATA_TYPES)
        _check_numeric(self, inputs)
        shape = _reduce_shape(self, self.axis, inputs, self.mode in ("MIN", "MAX"))
        return [TensorInfo(shape, self.output_dtype(inputs))]

    def in_float16(self, inputs: Sequence[TensorInfo], compute_f32: bool) -> OpDef:
        if compute_f32 and inputs[0].dtype.kind == "f" and self.data_type == "DEFAULT":
            return dataclasses.replace(self, data_type="FLOAT_O16xC32")
        return self


@dataclasses.dataclass(frozen=True)
class _ArgReduce(OpDef):
    """Index (int32) of the extreme value along ``axis``, which is kept as size 1."""

    nr_inputs = (1,)
    axis: int = 0

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        _check_numeric(self, inputs)
        if inputs[0].ndim == 0:
            self.fail("needs at least a 1-d input", inputs)
        return [TensorInfo(_reduce_shape(self, self.axis, inputs, True), INT32)]


@register_op
class Argmax(_ArgReduce):
    """Index of the first maximum along ``axis`` (kept as size 1), int32."""

    type_name = "Argmax"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("Argmax", ("Axis",))


@register_op
class Argmin(_ArgReduce):
    """Index of the first minimum along ``axis`` (kept as size 1), int32."""

    type_name = "Argmin"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("Argmin", ("Axis",))


def _check_rows(op: OpDef, inputs: Sequence[TensorInfo]) -> tuple[int, int]:
    _check_numeric(op, inputs)
    if inputs[0].ndim != 2:
        op.fail("needs a 2-d input (rows are sorted independently)", inputs)
    return inputs[0].shape


@register_op
class TopK(OpDef):
    """The ``|k|`` smallest (``k > 0``) or largest (``k < 0``) values of each row.

    ``mode``: KTH_ONLY (one output: the k-th value per row), VALUE_IDX_SORTED (values
    sorted, and their int32 indices) or VALUE_IDX_NOSORT (any order; mge returns them
    sorted). MegEngine passes ``k`` as an input var; here it is a param.
    """

    type_name = "TopK"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("TopK", ("TopK",), static=(("k", "int"),))
    nr_inputs = (1,)
    mode: str = "VALUE_IDX_SORTED"
    k: int = 1

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "mode", TOPK_MODES)
        rows, cols = _check_rows(self, inputs)
        if not isinstance(self.k, int) or not 0 < abs(self.k) <= cols:
            self.fail(f"k must satisfy 0 < |k| <= {cols}, got {self.k!r}", inputs)
        dtype = inputs[0].dtype
        if self.mode == "KTH_ONLY":
            return [TensorInfo((rows,), dtype)]
        shape = (rows, abs(self.k))
        return [TensorInfo(shape, dtype), TensorInfo(shape, INT32)]


@register_op
class ArgsortForward(OpDef):
    """Sort each row of a 2-d input (stable); outputs the sorted values and int32 indices."""

    type_name = "ArgsortForward"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("Argsort", ("Argsort",))
    nr_inputs = (1,)
    order: str = "ASCENDING"

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "order", ARGSORT_ORDERS)
        shape = _check_rows(self, inputs)
        return [TensorInfo(shape, inputs[0].dtype), TensorInfo(shape, INT32)]


@register_op
class Cumsum(OpDef):
    """Cumulative sum along ``axis`` (MegEngine ``Cumsum``): inclusive unless ``exclusive``
    (each element then sums only those before it), from the end when ``reverse``. The
    output has the input's shape and dtype."""

    type_name = "Cumsum"
    memory = Memory.FRESH
    mge_form = MgeForm("CumsumV1", ("Cumsum",))
    nr_inputs = (1,)
    axis: int = 2147483647
    exclusive: bool = True
    reverse: bool = False

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        x = inputs[0]
        if x.dtype.kind not in "iuf":
            self.fail("input must be an integer or float tensor", inputs)
        normalize_axis(self, self.axis, x.ndim, inputs)
        return [TensorInfo(x.shape, x.dtype)]


__all__ = [
    "ARGSORT_ORDERS", "REDUCE_ALL", "REDUCE_MODES", "TOPK_MODES", "ArgsortForward", "Argmax",
    "Argmin", "Cumsum", "Reduce", "TopK",
]


# gradient rules (reverse-mode autodiff: mge.core.autodiff)
from . import grad  # noqa: E402,F401
