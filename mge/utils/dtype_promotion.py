"""MegBrain's dtype promotion of ``Elemwise`` inputs, for graphs edited with
:class:`~mge.utils.network.Network`.

A graph built by MegBrain converts mixed ``Elemwise`` inputs to one dtype (its
``BatchedDTypePromotion``): a quantized dtype wins over a plain one, float16 counts as
float32, an int, a float and a bool (three categories) make float32, two of one category the wider
one. So a
``Network`` whose int32 input is replaced by a float32 constant computes in float32, as
MegEngine's does. Two different quantized dtypes, or signed with unsigned ints, have no
promotion (``TypeError``).

Example:
    >>> import numpy as np
    >>> promote(np.dtype("int32"), np.dtype("float32"))
    dtype('float32')
    >>> promote(np.dtype("int8"), np.dtype("int32"))
    dtype('int32')
"""

from __future__ import annotations

import numpy as np

from ..dtype import dtype_name, get_scale, is_quantize


def promote(a: np.dtype, b: np.dtype) -> np.dtype:
    """The dtype MegBrain converts ``a`` and ``b`` to in one ``Elemwise``."""
    if a == b and (a.metadata or {}) == (b.metadata or {}):
        return a
    if is_quantize(a) and is_quantize(b):
        if dtype_name(a).split("(")[0] != dtype_name(b).split("(")[0] or \
                abs(get_scale(a) - get_scale(b)) >= 1e-6:
            raise TypeError(f"no dtype promotion between {dtype_name(a)} and {dtype_name(b)}")
        return a
    if is_quantize(a) or is_quantize(b):
        return a if is_quantize(a) else b
    a = np.dtype(np.float32) if a == np.float16 else a
    b = np.dtype(np.float32) if b == np.float16 else b
    if _category(a) != _category(b):
        return np.dtype(np.float32)
    if (a.kind == "u") != (b.kind == "u"):
        raise TypeError(f"no dtype promotion between {a} and {b} (signed and unsigned)")
    return a if a.itemsize > b.itemsize else b


def _category(d: np.dtype) -> str:
    return {"f": "float", "b": "bool"}.get(d.kind, "int")


def promote_all(dtypes: list[np.dtype]) -> np.dtype:
    """The dtype of several ``Elemwise`` inputs, promoted left to right."""
    out = dtypes[0]
    for d in dtypes[1:]:
        out = promote(out, d)
    return out


__all__ = ["promote", "promote_all"]
