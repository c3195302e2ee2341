"""The torch ``PoolingBackward`` kernel equals the numpy one (MegEngine's semantics:
every cell equal to its window's maximum gets the window's gradient), across window,
stride, padding, layout and dtype, with many ties and with non-finite gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mge.ops.pooling import PoolingBackward  # noqa: E402
from mge.ops.pooling import numpy_kernels as numpy_pool  # noqa: E402
from mge.ops.pooling import torch_kernels as torch_pool  # noqa: E402

GEOMETRIES = [(kh, kw, sh, sw, ph, pw) for kh, kw, sh, sw, ph, pw in
              itertools.product((1, 2, 3), (2, 3), (1, 2, 3), (2,), (0, 1), (0, 1))
              if 2 * ph <= kh and 2 * pw <= kw]


@pytest.mark.parametrize("fmt", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("non_finite", [False, True])
def test_torch_max_pool_backward_matches_numpy(fmt: str, dtype: str, non_finite: bool) -> None:
    rng = np.random.default_rng(0)
    for kh, kw, sh, sw, ph, pw in GEOMETRIES:
        op = PoolingBackward(mode="MAX", pad_h=ph, pad_w=pw, stride_h=sh, stride_w=sw,
                             window_h=kh, window_w=kw, format=fmt)
        x = rng.integers(-2, 3, (2, 3, 7, 6)).astype(dtype)  # small integers: many ties
        y = torch.nn.functional.max_pool2d(torch.from_numpy(x).float(), (kh, kw), (sh, sw),
                                           (ph, pw)).numpy().astype(dtype)
        dy = rng.standard_normal(y.shape).astype(dtype)
        if non_finite:
            dy.flat[3], dy.flat[5] = np.nan, np.inf
        if fmt == "NHWC":
            x, y, dy = (np.ascontiguousarray(t.transpose(0, 2, 3, 1)) for t in (x, y, dy))
        want = numpy_pool.pooling_backward(op, x, y, dy)
        got = torch_pool.pooling_backward(op, *(torch.from_numpy(t) for t in (x, y, dy)))
        assert got.is_contiguous() and got.dtype == torch.from_numpy(want).dtype
        np.testing.assert_allclose(got.numpy().astype(np.float64), want.astype(np.float64),
                                   rtol=1e-3, atol=1e-3, err_msg=str(op))
