"""The folding arithmetic shared by the graph passes and tm.optimize."""

from __future__ import annotations

import numpy as np
import pytest

from mge.graph.folding import (
    bn_scale_shift,
    channel_scale,
    combine_constants,
    const_operand,
    fold_bn_into_conv,
    scale_conv_weight,
)


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1x1 dense convolution as a matrix product (enough to check the folding)."""
    return np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0]) + b.reshape(1, -1, 1, 1)


def test_bn_folded_into_conv_matches_conv_then_bn() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    w = rng.standard_normal((5, 3, 1, 1)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    mean, var = rng.standard_normal(5), rng.random(5) + 0.5
    gamma, beta, eps = rng.standard_normal(5), rng.standard_normal(5), 1e-5
    expected = (_conv(x, w, b) - mean.reshape(1, -1, 1, 1)) / np.sqrt(
        var.reshape(1, -1, 1, 1) + eps) * gamma.reshape(1, -1, 1, 1) + beta.reshape(1, -1, 1, 1)
    fw, fb = fold_bn_into_conv(w, b, mean, var, eps, gamma, beta)
    assert fw.dtype == np.float32 and fb.shape == (1, 5, 1, 1)
    np.testing.assert_allclose(_conv(x, fw, fb), expected, rtol=1e-4, atol=1e-5)


def test_bn_scale_shift_is_megengines_formula() -> None:
    scale, shift = bn_scale_shift(np.array([1.0]), np.array([3.0]), 1.0, np.array([4.0]),
                                  np.array([0.5]))
    assert scale.tolist() == [2.0] and shift.tolist() == [-1.5]


def test_channel_scale_accepts_only_per_channel_constants() -> None:
    assert channel_scale(np.float32(2), (1, 3, 4, 4)).tolist() == [2.0, 2.0, 2.0]
    assert channel_scale(np.arange(3).reshape(1, 3, 1, 1), (1, 3, 4, 4)).tolist() == [0, 1, 2]
    assert channel_scale(np.ones((1, 3, 4, 1)), (1, 3, 4, 4)) is None
    assert channel_scale(np.ones(4), (1, 3, 4, 4)) is None


@pytest.mark.parametrize("group", [False, True])
def test_scale_conv_weight_scales_each_output_channel(group: bool) -> None:
    w = np.ones((2, 3, 4, 1, 1) if group else (6, 4, 1, 1), np.float32)
    scaled = scale_conv_weight(w, np.arange(6.0))
    per_out = scaled.reshape(6, -1)[:, 0]
    assert per_out.tolist() == list(range(6))


def test_constant_operands_and_chains() -> None:
    assert const_operand("sub", np.float32(2))[1] == -2
    kind, inv = const_operand("div", np.float32(4))
    assert kind == "mul" and inv == 0.25 and inv.dtype == np.float64
    assert combine_constants("add", np.float32(1), np.float32(2)) == 3
    assert combine_constants("mul", np.int32(3), np.int32(2)).dtype == np.int32
