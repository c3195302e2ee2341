"""The ``dtype`` argument of observers and fake-quantize modules: a name or a meta."""

from __future__ import annotations

import logging
from typing import Any

from ..dtype import QuantDtypeMeta, _builtin_quant_dtypes

logger = logging.getLogger("mge.quantization")


def resolve_dtype_meta(
    owner: str, dtype: str | QuantDtypeMeta, kwargs: dict[str, Any]
) -> QuantDtypeMeta:
    """``dtype`` as a ``QuantDtypeMeta``; warns about (and drops) other keyword arguments.

    Raises:
        ValueError: an unknown dtype name, naming ``owner`` and the known names.
        TypeError: neither a name nor a ``QuantDtypeMeta``.
    """
    if "narrow_range" in kwargs:
        kwargs.pop("narrow_range")
        logger.warning("%s currently has no narrow_range param so it is ignored here", owner)
    if kwargs:  # MegEngine ignores them silently
        logger.warning("%s ignores the keyword arguments %s", owner, sorted(kwargs))
    if isinstance(dtype, str):
        if dtype not in _builtin_quant_dtypes:
            raise ValueError(
                f"unknown dtype: {dtype}, only support {list(_builtin_quant_dtypes)} ({owner})"
            )
        return _builtin_quant_dtypes[dtype]
    if not isinstance(dtype, QuantDtypeMeta):
        raise TypeError(
            f"{owner}: dtype must be a name or a QuantDtypeMeta, got {type(dtype).__name__}"
        )
    return dtype
