"""megengine.core.tensor.utils helpers."""

from __future__ import annotations

import numpy as np
import pytest

import mge
from mge.core.tensor.utils import make_shape_tuple


@pytest.mark.parametrize("shape", [(2, 0, 3), [2, 0, 3], np.array([2, 0, 3]),
                                   mge.tensor([2, 0, 3], dtype="int32")])
def test_make_shape_tuple(shape) -> None:  # noqa: ANN001
    assert make_shape_tuple(shape) == (2, 0, 3)


def test_make_shape_tuple_rejects_non_ints() -> None:
    with pytest.raises(TypeError, match="ints"):
        make_shape_tuple((2, 1.5))
