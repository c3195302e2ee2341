"""``F.matmul`` on quantized operands: two qint8 tensors multiply as integers into a
qint32 result whose scale is the product of theirs, as MegEngine 1.13's (its results in
``tests/fixtures/quantization/grads.npz``, keys ``mm/...``), and mixed operands fail
naming both dtypes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.core.opdef import OpError
from mge.core.tensor import dtype

FIXTURE = Path(__file__).parents[1] / "fixtures" / "quantization" / "grads.npz"
CASES = {"2d_tb": {"transpose_b": True}, "3d_2d": {}, "batched": {}, "vec": {}, "4d": {}}


@pytest.mark.parametrize("case", list(CASES))
def test_qint8_matmul_is_megengines(case: str) -> None:
    with np.load(FIXTURE) as z:
        a, b, want, scale = (z[f"mm/{case}/{k}"] for k in ("a", "b", "out", "scale"))
    sa, sb = dtype.qint8(0.03), dtype.qint8(0.011)
    got = F.matmul(mge.tensor(a.astype(sa)), mge.tensor(b.astype(sb)), **CASES[case])
    assert dtype.get_scale(got.dtype) == pytest.approx(float(scale), rel=1e-7)
    assert dtype.is_quantize(got.dtype) and got.numpy().dtype == np.int32
    np.testing.assert_array_equal(got.numpy(), want)
    # the integer product of the codes
    bt = np.swapaxes(b, -1, -2) if CASES[case] else b
    np.testing.assert_array_equal(want, np.matmul(a.astype(np.int32), bt.astype(np.int32)))


def test_quantized_matmul_refuses_mixed_operands() -> None:
    q = mge.tensor(np.ones((2, 2), np.int8).astype(dtype.qint8(0.5)))
    with pytest.raises(OpError, match="both be QuantizedS8, got float32 and"):
        F.matmul(mge.tensor(np.ones((2, 2), np.float32)), q)
    with pytest.raises(OpError, match="both be QuantizedS8"):
        F.matmul(q, mge.tensor(np.ones((2, 2), np.int32).astype(dtype.qint32(0.5))))
    with pytest.raises(TypeError, match="matmul: inp1 must be float32 or float16, got int8"):
        F.matmul(mge.tensor(np.ones((2, 2), np.int8)), mge.tensor(np.ones((2, 2), np.int8)))
