"""MegEngine's AsyncError: a value check's failure is reported when a result is read at
async_level >= 1, at once at async_level 0 (MegEngine's test_interpreter test_async_error)."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.core._imperative_rt.core2 import AsyncError, sync
from mge.ops.utility import UnequalError


@pytest.fixture
def async_level():  # noqa: ANN201
    old = mge.config.async_level
    yield lambda level: setattr(mge.config, "async_level", level)
    mge.config.async_level = old


@pytest.mark.parametrize("level", [1, 2])
def test_a_failed_check_is_reported_when_read(async_level, level: int) -> None:  # noqa: ANN001
    async_level(level)
    x = F.utils._simulate_error()
    assert x.shape == (100,) and x.dtype == np.float32  # inferred: known at once
    with pytest.raises(AsyncError) as info:
        x.numpy()
    assert isinstance(info.value.__cause__, UnequalError)
    sync()  # reported: nothing pending
    with pytest.raises(AsyncError):
        (x + 1).numpy()  # reading it as an input reports it too
    F.utils._simulate_error()
    with pytest.raises(AsyncError, match="max error 1"):
        sync()
    sync()


def test_async_level_0_raises_at_once(async_level) -> None:  # noqa: ANN001
    async_level(0)
    with pytest.raises(UnequalError):
        F.utils._simulate_error()
    sync()


def test_assert_equal_syncs(async_level) -> None:  # noqa: ANN001
    async_level(2)
    x = mge.tensor([1.0, 2.0])
    np.testing.assert_array_equal(F.utils._assert_equal(x, x + 1e-6).numpy(), [1.0, 2.0])
    with pytest.raises(AsyncError):
        F.utils._assert_equal(x, x + 1)
    sync()
    with pytest.raises(ValueError, match="same shape"):  # inference errors stay immediate
        F.utils._assert_equal(x, mge.tensor([1.0]))
