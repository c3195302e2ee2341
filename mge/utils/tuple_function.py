"""``megengine.utils.tuple_function``: MegEngine 1.13's helpers that turn an int or a
sequence into an n-tuple of ints (research code imports ``_pair`` as ``to_2tuple``).

Example:
    >>> from mge.utils.tuple_function import _pair, _triple
    >>> _pair(3), _pair([2, 5]), _triple(1)
    ((3, 3), (2, 5), (1, 1, 1))
"""

from __future__ import annotations

import collections.abc
import functools
from typing import Any


def get_ndtuple(value: Any, *, n: int, allow_zero: bool = True) -> tuple[int, ...]:
    """``value`` as an ``n``-tuple of ints: an int is repeated ``n`` times, an iterable
    must hold ``n`` items. Raises ``AssertionError`` (as MegEngine does) on a wrong length
    or on a value below 0 (below 1 when ``allow_zero`` is false).

    Example:
        >>> get_ndtuple(2, n=4)
        (2, 2, 2, 2)
    """
    if isinstance(value, collections.abc.Iterable):
        value = tuple(value)
        assert len(value) == n, f"tuple len is not equal to n: {value}"
        value = tuple(int(v) for v in value)
    else:
        value = (int(value),) * n
    minimum = 0 if allow_zero else 1
    assert min(value) >= minimum, f"invalid value: {value}"
    return value


_single = functools.partial(get_ndtuple, n=1, allow_zero=True)
_pair = functools.partial(get_ndtuple, n=2, allow_zero=True)
_pair_nonzero = functools.partial(get_ndtuple, n=2, allow_zero=False)
_triple = functools.partial(get_ndtuple, n=3, allow_zero=True)
_triple_nonzero = functools.partial(get_ndtuple, n=3, allow_zero=False)
_quadruple = functools.partial(get_ndtuple, n=4, allow_zero=True)

__all__ = ["get_ndtuple"]
