"""``Tensor`` and ``Parameter``: an array of the current backend with a dtype and device.

The class itself (data, shape, dtype, device, conversions) lives in the core
(:mod:`mge.core.tensor.base`), where ``apply`` wraps op outputs in it. This module is
its public home and gives it its math: the operators and methods below are one-line
delegations to ``mge.functional`` (which goes through ``apply``), written once.

Example:
    >>> import mge
    >>> x = mge.tensor([[1, 2], [3, 4]], dtype="float32")
    >>> (x * 2 + 1).numpy()
    array([[3., 5.],
           [7., 9.]], dtype=float32)
    >>> x.shape, x.dtype, x[1, 0].item()
    ((2, 2), dtype('float32'), 3.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import functional as F
from .core.symbolic_shape import shape as _shape
from .core.tensor.base import (
    Parameter,
    Tensor,
    _rebuild_tensor,  # noqa: F401  (pickles name it mge.tensor.*)
)
from .core.tracing import traceable
from .functional.indexing import getitem, setitem


def _shape_args(shape: tuple) -> Any:
    """``t.reshape(2, 3)`` and ``t.reshape((2, 3))`` both mean the shape ``(2, 3)``."""
    return shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape


def astype(self: Tensor, dtype: Any) -> Tensor:
    return F.astype(self, dtype)


def reshape(self: Tensor, *shape: Any) -> Tensor:
    return F.reshape(self, _shape_args(shape))


def transpose(self: Tensor, *pattern: Any) -> Tensor:
    if not pattern:
        pattern = tuple(reversed(range(self.ndim)))
    elif len(pattern) == 1 and not isinstance(pattern[0], int):
        pattern = tuple(pattern[0])
    return F.transpose(self, pattern)


def flatten(self: Tensor, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    return F.flatten(self, start_axis, end_axis)


def broadcast(self: Tensor, *shape: Any) -> Tensor:
    return F.broadcast_to(self, _shape_args(shape))


def __getitem__(self: Tensor, index: Any) -> Tensor:  # noqa: N807 - installed as a dunder
    return getitem(self, index)


def __setitem__(self: Tensor, index: Any, value: Any) -> None:  # noqa: N807
    # ``x[...] = v`` replaces ``x`` by ``v`` whatever their shapes, as MegEngine's
    # ``_reset`` does: a tensor as it is (dtype and format too), anything else converted
    # to ``x``'s dtype (``pe = Tensor(0.0); pe[...] = table`` grows ``pe`` to the table)
    self.set_value(value if index is Ellipsis else setitem(self, index, value))


def _reduction(fn: Callable) -> Callable:
    def method(self: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
        return fn(self, axis=axis, keepdims=keepdims)

    method.__name__ = fn.__name__
    return method


def _binary(fn: Callable, dunder: str, reverse: bool = False) -> Callable:
    def method(self: Tensor, other: Any) -> Tensor:
        if other is None:  # MegEngine's message
            raise TypeError("the operand is None and is not supported.")
        return fn(other, self) if reverse else fn(self, other)

    method.__name__ = dunder
    return method


def _unary(fn: Callable, dunder: str) -> Callable:
    def method(self: Tensor) -> Tensor:
        return fn(self)

    method.__name__ = dunder
    return method


def _inplace(dunder: str) -> Callable:
    def method(self: Tensor, other: Any) -> Tensor:
        self.set_value(getattr(self, dunder)(other))
        return self

    method.__name__ = dunder.replace("__", "__i", 1)
    return method


def _positive(self: Tensor) -> Tensor:
    return self


def _to(self: Tensor, device: str) -> Tensor:
    """A copy of this tensor on ``device`` (``F.copy``)."""
    return F.copy(self, device)


def _methods() -> dict[str, Callable]:
    """Every math method of ``Tensor``, by attribute name."""
    binary = {"add": F.add, "sub": F.sub, "mul": F.mul, "truediv": F.div,
              "floordiv": F.floor_div, "mod": F.mod, "pow": F.pow, "and": F.logical_and,
              "or": F.logical_or, "xor": F.logical_xor, "matmul": F.matmul}
    compare = {"lt": F.less, "le": F.less_equal, "gt": F.greater, "ge": F.greater_equal,
               "eq": F.equal, "ne": F.not_equal}
    methods: dict[str, Callable] = {
        f.__name__: f for f in (astype, reshape, transpose, flatten, broadcast,
                                __getitem__, __setitem__)}
    methods["_broadcast"] = broadcast  # MegEngine's internal name, used by its own code
    for name, fn in binary.items():
        methods[f"__{name}__"] = _binary(fn, f"__{name}__")
        methods[f"__r{name}__"] = _binary(fn, f"__r{name}__", reverse=True)
        methods[f"__i{name}__"] = _inplace(f"__{name}__")
    for name, fn in compare.items():
        methods[f"__{name}__"] = _binary(fn, f"__{name}__")
    for name, fn in {"neg": F.neg, "abs": F.abs, "invert": F.logical_not}.items():
        methods[f"__{name}__"] = _unary(fn, f"__{name}__")
    for fn in (F.sum, F.mean, F.max, F.min, F.prod):
        methods[fn.__name__] = _reduction(fn)
    methods["__pos__"] = _positive
    methods["to"] = _to
    return methods


for _name, _method in _methods().items():
    setattr(Tensor, _name, traceable(_method))
Tensor.shape = property(_shape, doc=_shape.__doc__)  # type: ignore[assignment]
Tensor.T = property(lambda self: self.transpose(), doc="The transpose (all axes reversed).")


#: MegEngine's lower-case name of the class itself: ``mge.tensor([1, 2])`` builds a Tensor
#: and ``isinstance(x, mge.tensor)`` holds, as in MegEngine.
tensor = Tensor


__all__ = ["Parameter", "Tensor", "tensor"]
