"""MegEngine's ``megengine.core._trace_option``: whether graph vars expose symbolic shapes.

While on, ``mge.utils.network_node.VarNode.shape`` is a VarNode computed by
``GetVarShape`` instead of a tuple (MegEngine's default is off).

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
