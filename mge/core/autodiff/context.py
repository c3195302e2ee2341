"""What a gradient rule sees: :class:`GradContext` (saved tensors, output gradients, ops).

An op class's ``grad_rule(op, ctx)`` returns one gradient (or ``None``) per input. It
computes them only with ops, through ``ctx`` (``ctx.apply``, ``ctx.ew`` for
``Elemwise`` modes, ``ctx.sum_to`` for broadcast inputs...), so that the rule runs on
every backend and is itself recorded by outer sessions (higher-order gradients).

Example:
    >>> import mge
    >>> ctx = GradContext((mge.tensor([1.0, 2.0]),), (mge.tensor([1.0, 4.0]),),
    ...                   [mge.tensor([1.0, 1.0])])
    >>> ctx.ew("MUL", ctx.grad(0), ctx.ew("MUL", ctx.inputs[0], 2.0)).numpy()
    array([2., 4.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...ops.elemwise import Elemwise, TypeCvt
from ...ops.reduce import Reduce
from ...ops.shape import Reshape
from ..apply import apply
from ..opdef import OpDef
from ..tensor.base import Tensor


def add_grads(a: Tensor | None, b: Tensor) -> Tensor:
    """``a + b``, where a missing ``a`` is zero (gradient accumulation)."""
    return b if a is None else apply(Elemwise(mode="ADD"), a, b)[0]


class GradContext:
    """The saved ``inputs`` and ``outputs`` of one recorded op and its output gradients.

    ``grads[k]`` is ``None`` where output ``k`` received no gradient; :meth:`grad`
    gives zeros there. ``needed[k]`` says whether input ``k`` wants a gradient (all do
    when not given); a rule may leave the others ``None``.
    """

    __slots__ = ("inputs", "outputs", "grads", "needed")

    def __init__(self, inputs: Sequence[Tensor], outputs: Sequence[Tensor],
                 grads: Sequence[Tensor | None], needed: Sequence[bool] | None = None) -> None:
        self.inputs, self.outputs, self.grads = tuple(inputs), tuple(outputs), list(grads)
        self.needed = tuple(needed) if needed is not None else (True,) * len(self.inputs)

    def needs(self, k: int) -> bool:
        """Whether input ``k`` wants a gradient (a tracked tensor)."""
        return self.needed[k]

    def grad(self, k: int = 0) -> Tensor:
        """The gradient of output ``k`` (zeros when it received none)."""
        g = self.grads[k]
        return g if g is not None else self.const(0.0, self.outputs[k], self.outputs[k].shape)

    def tracked(self) -> bool:
        """True when an outer session tracks a saved tensor or an output gradient, i.e.
        the rule's own computation is recorded (a higher-order gradient). A rule that
        uses a fused backward op without a gradient rule composes ops instead then."""
        return any(t._tape for t in (*self.inputs, *self.outputs, *self.grads)
                   if t is not None)

    def apply(self, op: OpDef, *xs: Tensor) -> tuple[Tensor, ...]:
        """Run ``op`` (recorded by outer sessions, for higher-order gradients)."""
        return apply(op, *xs)

    def one(self, op: OpDef, *xs: Tensor) -> Tensor:
        """The single output of ``op``."""
        return apply(op, *xs)[0]

    def const(self, value: Any, like: Tensor, shape: tuple[int, ...] = ()) -> Tensor:
        """A constant of ``like``'s dtype and device (``shape``: broadcast to it)."""
        arr = np.broadcast_to(np.asarray(value, dtype=like.dtype), shape)
        return Tensor(arr, dtype=like.dtype, device=like.device)

    def ew(self, mode: str, *xs: Tensor | float) -> Tensor:
        """``Elemwise(mode)`` on tensors and Python numbers (constants of the tensors' dtype)."""
        like = next(x for x in xs if isinstance(x, Tensor))
        args = [x if isinstance(x, Tensor) else self.const(x, like) for x in xs]
        return apply(Elemwise(mode=mode), *args)[0]

    def cast(self, x: Tensor, like: Tensor) -> Tensor:
        """``x`` (a bool mask or a number tensor) in ``like``'s dtype."""
        if x.dtype == like.dtype:
            return x
        return apply(TypeCvt(dtype=like.dtype.name), x)[0]

    def where(self, mask: Tensor, g: Tensor) -> Tensor:
        """``g`` where the bool ``mask`` holds, else 0."""
        return self.ew("MUL", g, self.cast(mask, g))

    def reshape(self, x: Tensor, shape: Sequence[int]) -> Tensor:
        shape = tuple(int(d) for d in shape)
        return x if tuple(x.shape) == shape else apply(Reshape(shape=shape), x)[0]

    def sum_to(self, g: Tensor, shape: Sequence[int]) -> Tensor:
        """``g`` summed over the axes along which ``shape`` was broadcast to ``g.shape``."""
        shape = tuple(shape)
        if tuple(g.shape) == shape:
            return g
        lead = g.ndim - len(shape)
        full = (1,) * lead + shape
        for axis, (have, want) in enumerate(zip(g.shape, full)):
            if want == 1 and have != 1:
                g = apply(Reduce(mode="SUM", axis=axis), g)[0]
        return self.reshape(g, shape)

    def reduce(self, mode: str, x: Tensor, axes: Sequence[int]) -> Tensor:
        """``Reduce(mode)`` over each of ``axes`` (kept as size 1)."""
        for axis in axes:
            x = apply(Reduce(mode=mode, axis=int(axis)), x)[0]
        return x


__all__ = ["GradContext", "add_grads"]
