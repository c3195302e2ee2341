"""Argument rules and errors of F.conv3d, conv_transpose3d, local_conv2d,
deformable_conv2d, sliding_window(_transpose), cond_take, matinv, local_response_norm and
general_norm (their values are checked against MegEngine in test_layers.py)."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F


def _ones(*shape: int) -> mge.Tensor:
    return mge.tensor(np.ones(shape, np.float32))


def test_conv3d_errors() -> None:
    x, w = _ones(1, 2, 4, 4, 4), _ones(3, 2, 2, 2, 2)
    with pytest.raises(ValueError, match="conv3d: inp must be 5-d"):
        F.conv3d(_ones(1, 2, 4, 4), w)
    with pytest.raises(ValueError, match="conv3d: weight .* must start with groups=2"):
        F.conv3d(x, _ones(3, 1, 1, 2, 2, 2), groups=2)
    with pytest.raises(ValueError, match="conv3d: .*input has 2 channels but the filter expects 3"):
        F.conv3d(x, _ones(3, 3, 2, 2, 2))
    with pytest.raises(ValueError, match="conv3d: .*larger than the padded input"):
        F.conv3d(x, _ones(3, 2, 5, 1, 1))
    with pytest.raises(ValueError, match="unknown conv_mode"):
        F.conv3d(x, w, conv_mode="convolution")  # MegEngine computes cross-correlation only
    with pytest.raises(TypeError, match="conv3d: stride must be an int or 3 ints"):
        F.conv3d(x, w, stride=(1, 2))


def test_conv_transpose3d_output_padding() -> None:
    x, w = _ones(1, 2, 2, 3, 2), _ones(2, 3, 2, 2, 2)
    assert F.conv_transpose3d(x, w, stride=2, output_padding=(1, 0, 1)).shape == (1, 3, 5, 6, 5)
    with pytest.raises(ValueError, match=r"output_padding \(2, 0, 0\) must be smaller than"):
        F.conv_transpose3d(x, w, stride=2, output_padding=(2, 0, 0))


def test_local_conv2d_errors() -> None:
    x = _ones(1, 2, 4, 4)
    with pytest.raises(ValueError, match="supports no dilation"):
        F.local_conv2d(x, _ones(1, 1, 1, 2, 3, 3, 2), dilation=2)
    with pytest.raises(ValueError, match=r"the filter is for a \(3, 3\) output"):
        F.local_conv2d(x, _ones(1, 3, 3, 2, 3, 3, 2))
    with pytest.raises(ValueError, match="local_conv2d: weight must be 7-d"):
        F.local_conv2d(x, _ones(2, 2, 3, 3))


def test_sliding_window_round_trip_counts_the_windows() -> None:
    x = mge.tensor(np.arange(20, dtype=np.float32).reshape(1, 1, 4, 5))
    windows = F.sliding_window(x, 2, stride=1)
    back = F.sliding_window_transpose(windows, (4, 5), 2)
    counts = np.outer([1, 2, 2, 1], [1, 2, 2, 2, 1])
    np.testing.assert_array_equal(back.numpy()[0, 0], x.numpy()[0, 0] * counts)
    with pytest.raises(ValueError, match=r"window positions, the input has \(3, 4\)"):
        F.sliding_window_transpose(windows, (5, 5), 2)


def test_deformable_conv2d_errors() -> None:
    x, w = _ones(1, 2, 4, 4), _ones(3, 2, 3, 3)
    with pytest.raises(ValueError, match=r"offset must be \(N, 2\*dg\*9, OH, OW\)"):
        F.deformable_conv2d(x, w, _ones(1, 9, 2, 2), _ones(1, 9, 2, 2))
    with pytest.raises(ValueError, match="offset must have batch 1 and the output size"):
        F.deformable_conv2d(x, w, _ones(1, 18, 4, 4), _ones(1, 9, 4, 4))


def test_cond_take_rules() -> None:
    x = mge.tensor([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="cond_take: mask must be bool"):
        F.cond_take(mge.tensor([[1, 0], [0, 1]]), x)
    with pytest.raises(ValueError, match="differ in shape"):
        F.cond_take(mge.tensor([True, False]), x)
    values, index = F.cond_take(mge.tensor([[False, False], [False, False]]), x)
    assert values.shape == (0,) and index.dtype == np.int32


def test_matinv_and_singular_matrices() -> None:
    with pytest.raises(ValueError, match="matinv: input must be batches of square matrices"):
        F.matinv(_ones(2, 3))
    with pytest.raises(ValueError, match="singular"):
        F.matinv(_ones(2, 2)).numpy()
    bad = F.matinv(mge.tensor([[[np.nan, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 4.0]]]))
    assert np.isnan(bad.numpy()[0]).all()  # one NaN leaves no entry of the inverse defined
    np.testing.assert_allclose(bad.numpy()[1], [[0.5, 0.0], [0.0, 0.25]])


def test_norm_argument_rules() -> None:
    with pytest.raises(ValueError, match="kernel_size must be a positive odd int"):
        F.nn.local_response_norm(_ones(1, 4, 2, 2), kernel_size=4)
    with pytest.raises(AssertionError, match="The order of normalized_axis is incorrect"):
        F.nn.general_norm(_ones(2, 3, 4), (2, 1), affine=False)
    with pytest.raises(AssertionError, match="weight must be provided"):
        F.nn.general_norm(_ones(2, 3, 4), (1, 2))
