"""``autocast``: turn automatic mixed precision on within a ``with`` block or a function.

Example:
    >>> from mge.core.tensor import amp as state
    >>> @autocast(low_prec_dtype="float16")
    ... def f():
    ...     return state._enabled
    >>> f(), state._enabled
    (True, False)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..core.tensor import amp as _state


class autocast:  # noqa: N801 - MegEngine's name
    """Context manager and decorator for autocast mode.

    Args:
        enabled: whether autocast is on inside.
        low_prec_dtype: the dtype convolutions and matrix products are cast to.
        high_prec_dtype: the dtype precision-sensitive ops keep.
    """

    def __init__(self, enabled: bool = True, low_prec_dtype: str = "float16",
                 high_prec_dtype: str = "float32") -> None:
        self.enabled = enabled
        self.low_prec_dtype = low_prec_dtype
        self.high_prec_dtype = high_prec_dtype
        self._saved: list[tuple[bool, str, str]] = []

    def __enter__(self) -> None:
        if self.enabled:
            self._saved.append((_state._enabled, _state._get_amp_low_prec_dtype(),
                                _state._get_amp_high_prec_dtype()))
            _state._enabled = True
            _state._set_amp_low_prec_dtype(self.low_prec_dtype)
            _state._set_amp_high_prec_dtype(self.high_prec_dtype)

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            _state._enabled, low, high = self._saved.pop()
            _state._set_amp_low_prec_dtype(low)
            _state._set_amp_high_prec_dtype(high)

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)
        return wrapper


__all__ = ["autocast"]
