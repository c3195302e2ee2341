"""bfloat16 tensors (``megengine.core.tensor.dtype.bfloat16``, ml_dtypes' type) as in
MegEngine 1.13: creation and numpy round trip (round to nearest), pickling, the dtype
rules of elementwise ops and reductions (results seen with the oracle), on every backend."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.core.tensor.dtype import bfloat16
from mge.dtype import float16, float32, result_dtype

BF16 = np.dtype(bfloat16)


#: every test runs once per available backend (``tests/conftest.py``)
pytestmark = pytest.mark.usefixtures("each_backend")


def _t(values: list[float]) -> mge.Tensor:
    return mge.tensor(np.array(values, dtype=bfloat16), dtype=bfloat16)


def test_values_round_to_nearest_and_come_back() -> None:
    t = mge.tensor([-3.4, 1.394683, 0.13425], dtype=bfloat16)
    assert t.dtype == BF16 and t.numpy().dtype == BF16
    np.testing.assert_array_equal(t.numpy().astype(np.float32),
                                  np.array([-3.40625, 1.3984375, 0.13378906], np.float32))
    np.testing.assert_array_equal(mge.tensor([1.3, 2.7]).astype(bfloat16).numpy(),
                                  np.array([1.296875, 2.703125], bfloat16))


def test_pickle_keeps_the_dtype() -> None:
    t = _t([0.5, -9.375])
    back = pickle.loads(pickle.dumps(t))
    assert back.dtype == BF16
    np.testing.assert_array_equal(back.numpy(), t.numpy())


@pytest.mark.parametrize(("fn", "want"), [
    (lambda x: x + x, [-6.8125, 2.796875]),
    (F.exp, [0.033203125, 4.0625]),
    (F.abs, [3.40625, 1.3984375]),
    (F.relu, [0.0, 1.3984375]),
    (F.sum, -2.0),
    (F.max, 1.3984375),
])
def test_ops_keep_bfloat16(fn, want) -> None:  # noqa: ANN001
    out = fn(_t([-3.4, 1.394683]))
    assert out.dtype == BF16
    np.testing.assert_array_equal(out.numpy().astype(np.float32), np.float32(want))


def test_scalars_and_other_floats_promote_to_float32() -> None:
    x = _t([-3.4, 1.394683])
    assert (x * 2).dtype == float32 and F.mean(x).dtype == float32
    assert (x + mge.tensor([1.0, 2.0])).dtype == float32
    assert result_dtype(BF16, float16) == float32
    np.testing.assert_allclose(F.mean(x).numpy(), -1.00390625)
