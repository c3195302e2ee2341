"""Automatic mixed precision state (MegEngine's ``core.tensor.amp``): whether autocast is
on and its low/high precision dtypes. ``mge.amp`` exposes them as module properties.

While enabled, convolutions and matrix products cast their float inputs to the low
precision dtype and accumulate in float32 (:func:`autocast_inputs`).

Example:
    >>> _enabled, _get_amp_low_prec_dtype()
    (False, 'float16')
"""

from __future__ import annotations

from ...ops.elemwise import TypeCvt
from ..apply import apply
from .base import Tensor

_enabled = False
_dtypes = {"low": "float16", "high": "float32"}


def _get_amp_high_prec_dtype() -> str:
    return _dtypes["high"]


def _set_amp_high_prec_dtype(dtype: str) -> None:
    _dtypes["high"] = dtype


def _get_amp_low_prec_dtype() -> str:
    return _dtypes["low"]


def _set_amp_low_prec_dtype(dtype: str) -> None:
    _dtypes["low"] = dtype


def autocast_inputs(*tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """The float tensors cast to the low precision dtype while autocast is on (others, and
    all of them when it is off, unchanged)."""
    if not _enabled:
        return tensors
    low = _dtypes["low"]
    return tuple(apply(TypeCvt(dtype=low), t)[0]
                 if isinstance(t, Tensor) and t.dtype.kind == "f" and t.dtype.name != low else t
                 for t in tensors)


__all__ = ["autocast_inputs"]
