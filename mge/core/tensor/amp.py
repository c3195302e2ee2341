"""Automatic mixed precision state (MegEngine's ``core.tensor.amp``): whether autocast is
on and its low/high precision dtypes. ``mge.amp`` exposes them as module properties.

While enabled, convolutions and matrix products cast their float inputs to the low
precision dtype and accumulate in float32 (``mge.functional._args.autocast_inputs``).

Example:
    >>> _enabled, _get_amp_low_prec_dtype()
    (False, 'float16')
"""

from __future__ import annotations

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


__all__: list[str] = []
