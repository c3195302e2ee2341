"""MegEngine's ``megengine.core.tensor.dtype``: quantized dtypes and their conversions,
and ``bfloat16`` (ml_dtypes' numpy type, as MegEngine's own is a numpy scalar type).

The dtypes themselves live in :mod:`mge.dtype`; this module gives them MegEngine's
address and adds the numpy conversions ``convert_to_qint8``/``convert_from_qint8`` (and
the ``quint8``, ``qint32``, ``quint4``, ``qint4``, ``qint1`` forms).

Example:
    >>> import numpy as np
    >>> from mge.core.tensor import dtype
    >>> q = dtype.convert_to_qint8(np.array([0.3, -1.0], "float32"), dtype.qint8(0.1))
    >>> q.tolist(), dtype.convert_from_qint8(q).tolist()
    ([3, -10], [0.30000001192092896, -1.0])
"""

from __future__ import annotations

import numpy as np

from ...dtype import (
    QuantDtypeMeta,
    _builtin_quant_dtypes,
    create_quantized_dtype,
    dequantize_array,
    get_scale,
    get_zero_point,
    is_dtype_equal,
    is_quantize,
    qint1,
    qint4,
    qint8,
    qint32,
    quint4,
    quint8,
)
from ...dtype import (
    bfloat16 as _bfloat16,
)


def _check_family(dtype: np.dtype, dtype_meta: QuantDtypeMeta, what: str) -> None:
    if not is_quantize(dtype) or dtype.metadata["mgb_dtype"]["name"] != dtype_meta.cname:
        raise ValueError(f"{what} should be a {dtype_meta.name} dtype, got {dtype!r}")


def _convert_to_quantized_dtype(
    arr: np.ndarray, dtype: np.dtype, dtype_meta: QuantDtypeMeta
) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise ValueError("arr parameter should be instance of np.ndarray")
    _check_family(dtype, dtype_meta, "dtype parameter")
    # MegEngine's numpy helper rounds half to even (its TypeCvt, quantize_array, rounds
    # half away from zero)
    info = dtype.metadata["mgb_dtype"]
    q = np.round(arr / info["scale"]) + info.get("zero_point", 0)
    return q.clip(dtype_meta.qmin, dtype_meta.qmax).astype(dtype)


def _convert_from_quantized_dtype(arr: np.ndarray, dtype_meta: QuantDtypeMeta) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise ValueError("arr parameter should be instance of np.ndarray")
    _check_family(arr.dtype, dtype_meta, "arr's dtype")
    return dequantize_array(arr)


def _converters(name: str) -> tuple:
    meta = _builtin_quant_dtypes[name]

    def convert_to(arr: np.ndarray, q: np.dtype) -> np.ndarray:
        return _convert_to_quantized_dtype(arr, q, meta)

    def convert_from(arr: np.ndarray) -> np.ndarray:
        return _convert_from_quantized_dtype(arr, meta)

    convert_to.__name__ = f"convert_to_{name}"
    convert_to.__doc__ = f"Quantize a float numpy array into {name} dtype ``q``."
    convert_from.__name__ = f"convert_from_{name}"
    convert_from.__doc__ = f"Dequantize a {name} numpy array into float32."
    return convert_to, convert_from


convert_to_quint8, convert_from_quint8 = _converters("quint8")
convert_to_qint8, convert_from_qint8 = _converters("qint8")
convert_to_qint32, convert_from_qint32 = _converters("qint32")
convert_to_quint4, convert_from_quint4 = _converters("quint4")
convert_to_qint4, convert_from_qint4 = _converters("qint4")
convert_to_qint1, convert_from_qint1 = _converters("qint1")

#: MegEngine's ``bfloat16``: the numpy scalar type (``np.array(x, dtype=bfloat16)``)
bfloat16 = _bfloat16.type

__all__ = [
    "QuantDtypeMeta", "bfloat16", "convert_from_qint1", "convert_from_qint4", "convert_from_qint8",
    "convert_from_qint32", "convert_from_quint4", "convert_from_quint8", "convert_to_qint1",
    "convert_to_qint4", "convert_to_qint8", "convert_to_qint32", "convert_to_quint4",
    "convert_to_quint8", "create_quantized_dtype", "get_scale", "get_zero_point",
    "is_dtype_equal", "is_quantize", "qint1", "qint4", "qint8", "qint32", "quint4", "quint8",
]
