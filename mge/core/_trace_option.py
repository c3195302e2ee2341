"""MegEngine's ``megengine.core._trace_option``: whether graph vars expose symbolic shapes.

While on, ``Tensor.shape`` read by user code is a 1-d int32 Tensor computed by
``GetVarShape`` (:mod:`mge.core.symbolic_shape`) and
``mge.utils.network_node.VarNode.shape`` a VarNode computed by it, instead of tuples.
MegEngine's default is off; ``jit.trace(symbolic_shape=True)`` (its default) turns it on
while the traced function runs.

Example:
    >>> old = set_symbolic_shape(True)
    >>> use_symbolic_shape()
    True
    >>> set_symbolic_shape(old)
    True
"""

from __future__ import annotations

_symbolic_shape = [False]


def use_symbolic_shape() -> bool:
    """Whether shapes are symbolic (see :func:`set_symbolic_shape`)."""
    return _symbolic_shape[0]


def set_symbolic_shape(option: bool) -> bool:
    """Turn symbolic shapes on or off; returns the previous setting."""
    old = _symbolic_shape[0]
    _symbolic_shape[0] = bool(option)
    return old


__all__ = ["set_symbolic_shape", "use_symbolic_shape"]
