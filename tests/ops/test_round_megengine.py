"""``Elemwise(ROUND)`` is C's ``roundf`` as MegEngine 1.13's: exact where
``floor(|x| + 0.5)`` is not (0.49999997 and 2**23 + 1 round up in float32 that way).
Values seen with the oracle: ``F.round`` of the inputs below in MegEngine 1.13."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F

INPUTS = np.array([8388609.0, 0.49999997, -0.49999997, 2.5, -2.5], np.float32)
MEGENGINE = np.array([8388609.0, 0.0, -0.0, 3.0, -3.0], np.float32)


@pytest.mark.parametrize("backend", mge.available_backends())
def test_round_is_megengines(backend: str) -> None:
    previous = mge.get_default_backend()
    mge.set_default_backend(backend)
    try:
        got = F.round(mge.tensor(INPUTS)).numpy()
    finally:
        mge.set_default_backend(previous)
    np.testing.assert_array_equal(got, MEGENGINE)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(MEGENGINE))
