"""``c_contiguous``: C-contiguous copies with the same elements, tiled or not."""

from __future__ import annotations

import numpy as np
import pytest

from mge.convert.onnx.exporter.arrays import TILE, TILED_MIN_BYTES, c_contiguous


@pytest.mark.parametrize("shape", [(1000, 1024), (TILE * 5 + 3, 517), (300, 2000), (4, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int8"])
def test_transposed_matrices_copy_exactly(shape: tuple[int, int], dtype: str) -> None:
    src = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    out = c_contiguous(src.T)
    assert out.flags.c_contiguous and out.dtype == src.dtype
    np.testing.assert_array_equal(out, src.T)
    assert not np.shares_memory(out, src)


@pytest.mark.parametrize("view", [lambda a: a, lambda a: a[::2], lambda a: a[:, ::-1].T,
                                  lambda a: a.reshape(8, -1, 64).transpose(2, 0, 1)])
def test_other_layouts_copy_exactly(view) -> None:
    src = np.arange(TILED_MIN_BYTES // 2, dtype=np.float32).reshape(512, -1)
    value = view(src)
    out = c_contiguous(value)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, value)
    assert (out is value) == value.flags.c_contiguous
