"""``Tensor.shape`` as MegEngine gives it: a tuple, or a ``GetVarShape`` Tensor.

While symbolic shapes are on (:func:`mge.core._trace_option.set_symbolic_shape`, which
``jit.trace(symbolic_shape=True)`` turns on for the traced calls), the ``shape`` that
user code reads is a 1-d int32 Tensor computed by ``GetVarShape``, so what is built from
it (``x.reshape(x.shape[0], -1)``, ``F.broadcast_to(y, x.shape)``) follows the input
size in a dumped graph. mge's own functions and modules keep reading tuples: the caller
decides, by the module its code lives in (``mge.models`` counts as user code).

Example:
    >>> import mge
    >>> from mge.core._trace_option import set_symbolic_shape
    >>> x = mge.tensor([[1.0, 2.0, 3.0]])
    >>> old = set_symbolic_shape(True)
    >>> x.shape.numpy()
    array([1, 3], dtype=int32)
    >>> _ = set_symbolic_shape(old)
    >>> x.shape
    (1, 3)
"""

from __future__ import annotations

import sys

from ..ops.shape import GetVarShape
from ._trace_option import _symbolic_shape
from .apply import apply
from .tensor.base import Tensor

_GET_SHAPE = GetVarShape()


def _user_code(depth: int) -> bool:
    """Whether the frame ``depth`` levels up runs user code (not mge's own, except
    ``mge.models``)."""
    name = sys._getframe(depth + 1).f_globals.get("__name__", "")
    return not name.startswith("mge.") or name.startswith("mge.models.")


def shape(self: Tensor) -> tuple[int, ...] | Tensor:
    """The shape: a tuple of ints, or (symbolic shapes on, read by user code, not a
    scalar) the ``GetVarShape`` Tensor of this tensor."""
    if _symbolic_shape[0] and self._shape and _user_code(1):
        return apply(_GET_SHAPE, self)[0]
    return self._shape


__all__ = ["shape"]
