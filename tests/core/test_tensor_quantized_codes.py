"""``mge.tensor(value, dtype=<quantized>)`` as MegEngine 1.13's: the values are the codes
(cast to the storage type), and an array already of the storage type is refused with an
error naming the dtype."""

from __future__ import annotations

import re

import numpy as np
import pytest

import mge
from mge.core.tensor import dtype
from mge.dtype import dtype_name

#: ``megengine.tensor(value, dtype=...)`` in MegEngine 1.13 (seen with the oracle): the
#: values are cast to the storage type as the codes (fractions truncated), never quantized
CODES_AS_MEGENGINE = [
    (np.array([1, -3, 100], np.int32), dtype.qint8(0.5), [1, -3, 100]),
    (np.array([0.7, -1.3, 60.0], np.float32), dtype.qint8(0.5), [0, -1, 60]),
    (np.array([0.7, 1.6]), dtype.qint8(0.5), [0, 1]),
    ([1, 2], dtype.qint8(0.5), [1, 2]),
    (np.array([1, -3, 100], np.int8).view(dtype.qint8(0.5)), dtype.qint8(0.5), [1, -3, 100]),
]


@pytest.mark.parametrize(("value", "qdt", "codes"), CODES_AS_MEGENGINE)
def test_tensor_of_values_keeps_them_as_codes(value: object, qdt: np.dtype,
                                              codes: list[int]) -> None:
    t = mge.tensor(value, dtype=qdt)
    assert dtype.is_dtype_equal(t.dtype, qdt)
    assert t.numpy().tolist() == codes


@pytest.mark.parametrize(("value", "qdt"), [
    (np.array([1, -3], np.int8), dtype.qint8(0.5)),
    (np.array([1, 200], np.uint8), dtype.quint8(0.5, 128)),
    (np.array([5, -7], np.int32), dtype.qint32(0.1)),
    (np.array([1, -3], np.int8).view(dtype.qint8(0.25)), dtype.qint8(0.5)),
])
def test_tensor_of_the_storage_type_is_refused_as_megengine(value: np.ndarray,
                                                            qdt: np.dtype) -> None:
    with pytest.raises(RuntimeError, match=re.escape(f"can not make a {dtype_name(qdt)}")):
        mge.tensor(value, dtype=qdt)
