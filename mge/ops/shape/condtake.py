"""``CondTake``: the elements of ``data`` where ``mask`` meets a condition, and their flat
indices (MegEngine ``CondTake``: params ``mode``, ``val``, ``eps``).

A float mask meets ``EQ`` where ``|mask - val| < eps`` (``NEQ`` elsewhere), an integer or
bool one where it equals ``val`` cast to its dtype; ``LT``/``LEQ``/``GT``/``GEQ`` compare
``mask`` with ``val``. The output length depends on the mask's values; mge's shapes are
static, so the op carries it as ``size`` (in memory only: ``F.cond_take`` counts the
mask when it builds the op; ``.mge`` files do not store it). A kernel given a mask that
selects another number of elements fails, naming both counts.

Example:
    >>> op = CondTake(size=2)
    >>> [i.shape for i in op.infer([TensorInfo((2, 3), np.dtype("float32")),
    ...                              TensorInfo((2, 3), np.dtype("bool"))])]
    [(2,), (2,)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op

I32 = np.dtype("int32")
MODES = ("EQ", "NEQ", "LT", "LEQ", "GT", "GEQ")


@register_op
class CondTake(OpDef):
    """``(data[cond(mask)], flat indices)``; inputs ``data, mask`` of one shape."""

    type_name = "CondTake"
    memory = Memory.FRESH
    mge_form = MgeForm("CondTake", ("CondTake",))
    nr_inputs = (2,)
    value_params = ("size",)
    mode: str = "EQ"
    val: float = 1.0
    eps: float = 1e-6
    size: int = -1

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        data, mask = inputs
        check_enum(self, "mode", MODES)
        if data.shape != mask.shape:
            self.fail("data and mask must have one shape", inputs)
        if self.eps <= 0:
            self.fail(f"eps must be positive, got {self.eps}", inputs)
        if self.size < 0:
            self.fail("the number of selected elements depends on the mask's values; mge "
                      "needs it as the op's size (F.cond_take sets it; a .mge file cannot "
                      "give it)", inputs)
        if self.size > int(np.prod(data.shape)):
            self.fail(f"size {self.size} exceeds the {int(np.prod(data.shape))} elements",
                      inputs)
        return [TensorInfo((self.size,), data.dtype), TensorInfo((self.size,), I32)]

    def selected(self, mask: np.ndarray) -> np.ndarray:
        """Where the numpy ``mask`` meets the condition (bool, ``mask``'s shape)."""
        val = np.asarray(self.val).astype(mask.dtype) if mask.dtype.kind in "biu" else \
            np.float32(self.val)
        if self.mode in ("EQ", "NEQ"):
            if mask.dtype.kind == "f":
                with np.errstate(invalid="ignore"):
                    eq = np.abs(mask.astype(np.float32) - val) < self.eps
            else:
                eq = mask == val
            return eq if self.mode == "EQ" else ~eq
        compare = {"LT": np.less, "LEQ": np.less_equal, "GT": np.greater,
                   "GEQ": np.greater_equal}[self.mode]
        return compare(mask, val)

    def check_count(self, count: int) -> None:
        """Fail unless the mask selected ``size`` elements."""
        if count != self.size:
            raise ValueError(f"{self}: the mask selects {count} elements but the op was "
                             f"built for {self.size} (its output size follows the mask's "
                             "values; build the op again for new masks)")


__all__ = ["CondTake"]
