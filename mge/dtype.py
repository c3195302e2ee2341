"""Data types: the numpy dtypes mge tensors use and MegEngine's promotion rules.

MegEngine keeps tensors in 32-bit types: Python floats and float64 arrays become
float32, Python ints and int64 arrays become int32. Binary operators promote like
MegEngine 1.13 (checked against it): operands of one category (bool, integer, float)
promote to the wider type; mixing categories gives float32 (``bool + 1``,
``int32 + float16``); a Python scalar never widens a tensor's dtype within its category.

Example:
    >>> import numpy as np
    >>> canonical_dtype(np.float64)
    dtype('float32')
    >>> result_dtype(np.dtype("float16"), 2.0)
    dtype('float16')
"""

from __future__ import annotations

from typing import Any

import numpy as np

float32 = np.dtype("float32")
float16 = np.dtype("float16")
int32 = np.dtype("int32")
int16 = np.dtype("int16")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
uint16 = np.dtype("uint16")
bool_ = np.dtype("bool")

SUPPORTED = (float32, float16, int32, int16, int8, uint8, uint16, bool_)

_CANONICAL = {
    np.dtype("float64"): float32,
    np.dtype("int64"): int32,
    np.dtype("uint32"): int32,
    np.dtype("uint64"): int32,
}


def canonical_dtype(dtype: Any) -> np.dtype:
    """Map any numpy-compatible dtype to the dtype mge stores (64-bit types narrow to 32).

    Raises:
        TypeError: for dtypes mge cannot hold (complex, object, strings).
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"unsupported dtype {dtype!r}") from exc
    dt = _CANONICAL.get(dt, dt)
    if dt not in SUPPORTED:
        raise TypeError(f"unsupported dtype {dt} (mge supports {', '.join(map(str, SUPPORTED))})")
    return dt


def is_float(dtype: np.dtype) -> bool:
    """True for floating point dtypes."""
    return np.dtype(dtype).kind == "f"


def scalar_dtype(value: Any) -> np.dtype:
    """The dtype a Python scalar takes on its own: bool, int32 or float32."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int32
    return float32


def result_dtype(*operands: Any) -> np.dtype:
    """MegEngine's dtype promotion for elementwise operands (dtypes or Python scalars).

    Tensor dtypes are given as ``np.dtype``; anything else counts as a Python scalar,
    which only decides the category (bool < int < float) and never the width.
    """
    tensor_dts = [np.dtype(o) for o in operands if isinstance(o, np.dtype)]
    scalars = [o for o in operands if not isinstance(o, np.dtype)]
    if not tensor_dts:
        return np.result_type(*[scalar_dtype(s) for s in scalars])
    dt = tensor_dts[0]
    for other in tensor_dts[1:]:
        dt = _promote_pair(dt, other)
    for s in scalars:
        if _category(scalar_dtype(s)) > _category(dt):
            dt = float32
    return dt


def _category(dt: np.dtype) -> int:
    return {"b": 0, "u": 1, "i": 1, "f": 2}[dt.kind]


def _promote_pair(a: np.dtype, b: np.dtype) -> np.dtype:
    if a == b:
        return a
    if _category(a) != _category(b):
        return float32
    return canonical_dtype(np.promote_types(a, b))
