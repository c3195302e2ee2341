"""``megengine.utils.tuple_function`` (Swin Transformer imports ``_pair`` as ``to_2tuple``)."""

from __future__ import annotations

import numpy as np
import pytest

from mge.utils.tuple_function import (
    _pair,
    _pair_nonzero,
    _quadruple,
    _single,
    _triple,
    _triple_nonzero,
    get_ndtuple,
)


def test_ints_and_sequences_become_n_tuples_of_ints() -> None:
    assert _single(3) == (3,)
    assert _pair(7) == (7, 7) and _pair([2, 5]) == (2, 5) and _pair((0, 1)) == (0, 1)
    assert _pair(np.int64(4)) == (4, 4) and _pair(np.array([3, 2])) == (3, 2)
    assert _triple(1) == (1, 1, 1) and _quadruple(2) == (2, 2, 2, 2)
    assert get_ndtuple(2.0, n=2) == (2, 2) and all(type(v) is int for v in _pair([1.0, 2]))


def test_wrong_length_or_value_is_an_assertion_error_as_in_megengine() -> None:
    with pytest.raises(AssertionError, match="tuple len is not equal to n"):
        _pair([1, 2, 3])
    with pytest.raises(AssertionError, match="invalid value"):
        _pair_nonzero(0)
    with pytest.raises(AssertionError, match="invalid value"):
        _triple_nonzero((1, 0, 1))
    with pytest.raises(AssertionError, match="invalid value"):
        _pair(-1)
