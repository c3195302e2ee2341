"""Quantization parameters: ``QuantMode``, ``QParams`` and ``create_qparams``.

A ``QParams`` records how a tensor is (or will be) quantized: the mode, the quantized
dtype family (:class:`mge.dtype.QuantDtypeMeta`), the scale and the zero point. Every
``Tensor`` has one (``Tensor.qparams``); observers and fake-quantize modules produce
them (MegEngine 1.13's ``megengine.quantization.utils`` names, re-exported there).

Example:
    >>> from mge.core.qparams import QuantMode, create_qparams
    >>> q = create_qparams(QuantMode.SYMMERTIC, "qint8", 0.5)
    >>> q.dtype_meta.name, q.scale, q.zero_point
    ('qint8', 0.5, None)
"""

from __future__ import annotations

from enum import Enum
from functools import partial
from typing import Any

from ..dtype import QuantDtypeMeta, _builtin_quant_dtypes


class QuantMode(Enum):
    """Quantization mode (MegEngine's spelling): symmetric or asymmetric."""

    SYMMERTIC = 1
    ASYMMERTIC = 2


class QParams:
    """Mode, dtype family, scale and zero point of a quantized tensor.

    Subclasses with extra fields add them to ``__slots__`` (``update`` and ``==`` use it).
    """

    __slots__ = "mode", "dtype_meta", "scale", "zero_point"

    def __init__(
        self, mode: QuantMode | None, dtype_meta: QuantDtypeMeta | None, scale: Any,
        zero_point: Any,
    ) -> None:
        self.mode = mode
        self.dtype_meta = dtype_meta
        self.scale = scale
        self.zero_point = zero_point

    def update(self, qparams: QParams) -> None:
        """Copy every field of ``qparams`` into this one."""
        for key in self.__slots__:
            setattr(self, key, getattr(qparams, key))

    def __eq__(self, other: object) -> bool:
        if len(self.__slots__) != len(getattr(other, "__slots__", ())):
            return False
        for key in self.__slots__:
            if not hasattr(other, key) or not _same(getattr(self, key), getattr(other, key)):
                return False
        return True

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        content = ", ".join(f"{key}={getattr(self, key)}" for key in self.__slots__)
        return f"QParams({content})"


def _same(a: Any, b: Any) -> bool:
    """Field equality; Tensors compare by value (one element each)."""
    if a is b:
        return True
    if a is None or b is None:
        return False
    result = a == b
    return bool(result.item() if hasattr(result, "item") else result)


_builtin_qparams = {
    QuantMode.SYMMERTIC: partial(QParams, mode=QuantMode.SYMMERTIC),
    QuantMode.ASYMMERTIC: partial(QParams, mode=QuantMode.ASYMMERTIC),
}


def create_qparams(
    mode: QuantMode | None = QuantMode.SYMMERTIC,
    dtype_meta: str | QuantDtypeMeta | None = None,
    scale: Any = None,
    zero_point: Any = None,
) -> QParams:
    """A ``QParams``; ``dtype_meta`` may be a builtin name (``"qint8"``, ``"quint8"``...).

    Raises:
        KeyError: an unknown dtype name.
        TypeError: ``mode`` is neither None nor a ``QuantMode``.
    """
    if isinstance(dtype_meta, str):
        if dtype_meta not in _builtin_quant_dtypes:
            raise KeyError(
                f"create_qparams: unknown quantized dtype {dtype_meta!r}, "
                f"expected one of {sorted(_builtin_quant_dtypes)}"
            )
        dtype_meta = _builtin_quant_dtypes[dtype_meta]
    if mode is None:
        return QParams(mode, dtype_meta, scale, zero_point)
    if not isinstance(mode, QuantMode):
        raise TypeError(f"create_qparams: mode must be a QuantMode, got {mode!r}")
    return _builtin_qparams[mode](dtype_meta=dtype_meta, scale=scale, zero_point=zero_point)


__all__ = ["QParams", "QuantMode", "create_qparams"]
