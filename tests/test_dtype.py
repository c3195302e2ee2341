"""MegEngine 1.13's dtype promotion, as observed on the real thing (see mge/dtype.py)."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.dtype import canonical_dtype, result_dtype

B, I, U, H, S = (mge.tensor([True, False]), mge.tensor([1, 2], dtype="int32"),
                 mge.tensor([1, 2], dtype="uint8"), mge.tensor([1, 2], dtype="float16"),
                 mge.tensor([1.0, 2.0]))


@pytest.mark.parametrize(("expr", "dtype"), [
    (lambda: B + 1, "float32"), (lambda: B + 1.5, "float32"), (lambda: B + I, "float32"),
    (lambda: U + 1, "uint8"), (lambda: U + 1.5, "float32"), (lambda: U + H, "float32"),
    (lambda: I + H, "float32"), (lambda: I / I, "float32"), (lambda: I // 2, "int32"),
    (lambda: I ** 2, "float32"), (lambda: F.exp(I), "float32"), (lambda: abs(I), "int32"),
    (lambda: H * 2.5, "float16"), (lambda: U * 2, "uint8"), (lambda: I < 1.5, "bool"),
    (lambda: B & B, "bool"), (lambda: H + S, "float32"), (lambda: F.maximum(I, 1.5), "float32"),
])
def test_promotion_matches_megengine(expr, dtype: str) -> None:  # noqa: ANN001
    assert expr().dtype == np.dtype(dtype)


def test_integer_mod_and_floor_div_follow_megengine() -> None:
    x = mge.tensor([7, -7])
    np.testing.assert_array_equal((x % 3).numpy(), [1, 2])
    np.testing.assert_array_equal((x // 3).numpy(), [2, -3])
    np.testing.assert_allclose((mge.tensor([7.0, -7.0]) % 3).numpy(), [1.0, -1.0])


def test_creation_defaults() -> None:
    assert mge.tensor(np.arange(3, dtype=np.int64)).dtype == np.int32
    assert mge.tensor(1.0).dtype == np.float32 and mge.tensor([1, 2]).dtype == np.int32
    assert canonical_dtype("float64") == np.float32
    assert result_dtype(np.dtype("float16"), 3) == np.float16
    with pytest.raises(TypeError, match="unsupported dtype"):
        canonical_dtype(np.complex64)


def test_code_zero_point_is_zero_for_symmetric_dtypes() -> None:
    from mge.dtype import code_zero_point, qint8, qint32, quint8

    assert (code_zero_point(quint8(0.5, 3)), code_zero_point(qint8(0.5)),
            code_zero_point(qint32(0.5))) == (3, 0, 0)
    with pytest.raises(ValueError, match="not a quantized dtype"):
        code_zero_point(np.dtype("int8"))
