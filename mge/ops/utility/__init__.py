"""Utility ops: ``AssertEqual`` (the check that test-case files insert on every output,
and that ``trace.dump`` inserts for values read while tracing), ``VirtualDep`` and
``Copy`` (MegEngine's copy to a device: ``F.copy(x, device)`` in its dumps).

``AssertEqual(expect, get)`` passes ``expect`` through and fails the run with
:class:`UnequalError` when the largest relative error between the two,
``|expect - get| / max(min(|expect|, |get|), 1)``, is above ``maxerr`` or not a number
(MegEngine's rule). With ``verbose`` every run prints ``AssertEqual: err=<value>``.

MegEngine's own files also pass the error as a third input var, computed in the graph;
mge computes it in the kernel (MegEngine's loader accepts both forms).

Example:
    >>> import numpy as np
    >>> relative_error(np.array([1.0, 200.0]), np.array([1.5, 202.0]))
    array([0.5 , 0.01])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, register_op


class UnequalError(RuntimeError):
    """An ``AssertEqual`` check failed: the values differ by more than ``maxerr``."""


def relative_error(expect: np.ndarray, get: np.ndarray) -> np.ndarray:
    """Per-element error ``|expect - get| / max(min(|expect|, |get|), 1)`` in float64."""
    e = np.asarray(expect, np.float64)
    g = np.asarray(get, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.abs(e - g) / np.maximum(np.minimum(np.abs(e), np.abs(g)), 1.0)


def max_error(expect: np.ndarray, get: np.ndarray) -> float:
    """The largest :func:`relative_error` (NaN if any element is NaN, 0 when empty)."""
    err = relative_error(expect, get)
    return float(np.max(err)) if err.size else 0.0


def passes(err: float, maxerr: float) -> bool:
    """MegEngine's test: ``0 <= err <= maxerr`` (a NaN error fails)."""
    return bool(0 <= err <= maxerr)


def describe_mismatch(expect: np.ndarray, get: np.ndarray, maxerr: float,
                      name: str = "output") -> str:
    """One line naming ``name``, the max error and the worst element (values and index)."""
    err = relative_error(expect, get)
    if not err.size:
        return f"{name}: no elements"
    flat = np.where(np.isnan(err), np.inf, err).reshape(-1)
    worst = int(np.argmax(flat))
    index = np.unravel_index(worst, err.shape) if err.ndim else ()
    actual = np.asarray(get).reshape(-1)[worst]
    wanted = np.asarray(expect).reshape(-1)[worst]
    return (f"{name}: max error {max_error(expect, get):.6g} exceeds maxerr {maxerr:g} "
            f"(at index {tuple(int(i) for i in index)}: actual {actual:.6g}, "
            f"expected {wanted:.6g})")


@register_op
class AssertEqual(OpDef):
    """Check ``get`` against ``expect`` and pass ``expect`` through (MegEngine param names).

    Example:
        >>> AssertEqual(maxerr=1e-3).infer([TensorInfo((2,), np.dtype("float32"))] * 2)
        [TensorInfo(shape=(2,), dtype=dtype('float32'), value=None)]
    """

    type_name = "AssertEqual"
    memory = Memory.MAY_ALIAS
    checks_values = True
    mge_form = MgeForm("AssertEqual", ("AssertEqual",))
    nr_inputs = (2,)
    maxerr: float = 1e-4
    verbose: bool = False
    #: the Python read this check guards (:data:`READ_SUFFIX`), named in its error
    read: str = ""

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        expect, get = inputs
        if expect.shape != get.shape or expect.dtype != get.dtype:
            self.fail("expect and get must have the same shape and dtype", inputs)
        return [TensorInfo(expect.shape, expect.dtype)]

    def report(self, err: float) -> bool:
        """Print the error when ``verbose``; whether it passes (see :func:`passes`)."""
        if self.verbose:
            print(f"AssertEqual: err={err:g}", flush=True)
        return passes(err, self.maxerr)

    def error(self, expect: np.ndarray, get: np.ndarray) -> UnequalError:
        """The exception a failed check raises, naming the worst element (or, for a
        guard of a value read while tracing, the read)."""
        if self.read:
            return ShapeReadError(
                f"the dump read {self.read} == {_values(expect)} while tracing; this input "
                f"gives {_values(get)}: the traced function used that value in Python, so "
                "the file holds it as a constant. Trace at this size, or build the value "
                "with F.* functions from x.shape instead of reading it")
        return UnequalError(describe_mismatch(expect, get, self.maxerr, "AssertEqual"))


#: the name suffix of a guard's ``expect`` constant in a ``.mge`` file: ``trace.dump``
#: names it ``"<what was read> read while tracing"``; the reader gives the check its name
READ_SUFFIX = " read while tracing"


class ShapeReadError(UnequalError):
    """A dumped graph ran at an input size that changes a value Python read while tracing
    (``int(x.shape[1])``): the file holds the traced value, so it refuses to run."""


def _values(a: np.ndarray) -> str:
    flat = np.asarray(a).reshape(-1)
    items = [int(v) if float(v).is_integer() else float(v) for v in flat.tolist()]
    return str(items[0]) if len(items) == 1 else str(items)


def named_check(op: OpDef, inputs: Sequence[Any]) -> OpDef:
    """``op`` read from a file: an ``AssertEqual`` whose expect input is a constant named
    ``"<read>`` :data:`READ_SUFFIX` ``"`` gets that read as its name."""
    name = getattr(inputs[0], "name", "") if isinstance(op, AssertEqual) and inputs else ""
    if not name or not name.endswith(READ_SUFFIX):
        return op
    return dataclasses.replace(op, read=name[:-len(READ_SUFFIX)])


@register_op
class VirtualDep(OpDef):
    """MegEngine's ``VirtualDep``: output = input 0, computed only after the other inputs
    (``trace.dump`` makes each output depend on the guards of values read while tracing).

    Example:
        >>> VirtualDep().infer([TensorInfo((2,), np.dtype("float32"))] * 2)[0].shape
        (2,)
    """

    type_name = "VirtualDep"
    memory = Memory.WHOLE_VIEW
    mge_form = MgeForm("VirtualDep")

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if not inputs:
            self.fail("needs at least one input", inputs)
        return [TensorInfo(inputs[0].shape, inputs[0].dtype)]  # never folded: it orders


@register_op
class Copy(OpDef):
    """MegEngine's ``Copy`` operator: a copy of the input on another device (its dumps
    of ``F.copy(x, device)`` hold it; mge computes on one device, so the same values).

    Example:
        >>> Copy().infer([TensorInfo((2, 3), np.dtype("float32"))])[0].shape
        (2, 3)
    """

    type_name = "Copy"
    memory = Memory.FRESH
    mge_form = MgeForm("Copy")

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if len(inputs) != 1:
            self.fail(f"takes 1 input, got {len(inputs)}", inputs)
        return [TensorInfo(inputs[0].shape, inputs[0].dtype)]


__all__ = [
    "READ_SUFFIX", "AssertEqual", "Copy", "ShapeReadError", "UnequalError", "VirtualDep",
    "describe_mismatch", "max_error", "named_check", "passes", "relative_error",
]
