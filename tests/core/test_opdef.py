"""TensorInfo equality: quantization parameters count (numpy's dtype ``==`` ignores them)."""

from __future__ import annotations

import numpy as np

from mge.core.opdef import TensorInfo
from mge.dtype import qint8, qint32, quint8


def test_plain_infos_compare_and_hash_as_tuples() -> None:
    a = TensorInfo((2, 3), np.dtype("float32"))
    assert a == TensorInfo((2, 3), np.dtype("float32"))
    assert hash(a) == hash(TensorInfo((2, 3), np.dtype("float32")))
    assert a != TensorInfo((2, 3), np.dtype("float16"))
    assert a != TensorInfo((3, 2), np.dtype("float32"))
    assert a == ((2, 3), np.dtype("float32"), None)  # still a tuple


def test_quantized_parameters_tell_infos_apart() -> None:
    pairs = [
        (qint8(0.5), qint8(0.25)),
        (quint8(0.5, 3), quint8(0.5, 4)),
        (qint8(0.5), np.dtype("int8")),
        (qint32(0.5), np.dtype("int32")),
    ]
    for a, b in pairs:
        assert TensorInfo((2,), a) != TensorInfo((2,), b), (a, b)
        assert not TensorInfo((2,), a) == TensorInfo((2,), b)
        assert len({TensorInfo((2,), a), TensorInfo((2,), b)}) == 2
    same = TensorInfo((2,), quint8(0.5, 3))
    assert same == TensorInfo((2,), quint8(0.5, 3))
    assert hash(same) == hash(TensorInfo((2,), quint8(0.5, 3)))
    assert {same: 1}[TensorInfo((2,), quint8(0.5, 3))] == 1
