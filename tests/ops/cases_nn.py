"""Op-table cases for MatrixMul, BatchedMatrixMul, MatrixInverse, BatchNormForward,
BatchNormBackward, SoftmaxForward and the feature normalizations."""

from __future__ import annotations

import numpy as np

from mge.ops.nn import (
    LRN,
    BatchedMatrixMul,
    BatchNormBackward,
    BatchNormForward,
    GeneralNorm,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    MatrixInverse,
    MatrixMul,
    SoftmaxForward,
)
from mge.ops.nn.multi_head_attn import MultiHeadAttn
from mge.ops.nn.svd import SVD

from .optable import OpCase, rand

_TOL = {"atol": 1e-4, "rtol": 1e-4}


def _bn_inputs(shape: tuple[int, ...], pshape: tuple[int, ...], dtype: str = "float32"):  # noqa: ANN202
    var = rand(*pshape, low=0.5, high=2.0, seed=4)
    params = [rand(*pshape, seed=k) for k in (1, 2, 3)] + [var]
    return [rand(*shape, dtype=dtype)] + params


def _bn_backward_inputs(shape: tuple[int, ...], pshape: tuple[int, ...],
                       dtype: str = "float32"):  # noqa: ANN202
    """``x, dy, save_mean, save_inv_variance, scale, reserve``."""
    inv = rand(*pshape, low=0.5, high=2.0, seed=4)
    return [rand(*shape, dtype=dtype), rand(*shape, dtype=dtype, seed=1), rand(*pshape, seed=2),
            inv, rand(*pshape, seed=3), np.zeros((0,), np.uint8)]


CASES = [
    OpCase(MatrixMul(), [rand(3, 4), rand(4, 5, seed=1)], **_TOL),
    OpCase(MatrixMul(transposeA=True, transposeB=True), [rand(4, 3), rand(5, 4, seed=1)],
           id="MatrixMul-tt", **_TOL),
    OpCase(MatrixMul(transposeB=True), [rand(0, 4), rand(5, 4, seed=1)], id="MatrixMul-empty"),
    OpCase(MatrixMul(), [rand(3, 8, dtype="float16"), rand(8, 2, dtype="float16", seed=1)],
           id="MatrixMul-float16", atol=1e-2, rtol=1e-2),
    OpCase(BatchedMatrixMul(), [rand(2, 3, 4), rand(2, 4, 5, seed=1)], **_TOL),
    OpCase(BatchedMatrixMul(transposeA=True), [rand(3, 4, 2), rand(3, 4, 6, seed=1)],
           id="BatchedMatrixMul-tA", **_TOL),
    OpCase(BatchNormForward(param_dim="DIM_1C11", fwd_mode="INFERENCE", epsilon=1e-5),
           _bn_inputs((2, 3, 4, 5), (1, 3, 1, 1)), id="BN-inference", **_TOL),
    OpCase(BatchNormForward(param_dim="DIM_1C11", avg_factor=0.1),
           _bn_inputs((2, 3, 4, 5), (1, 3, 1, 1)), id="BN-training-stats", **_TOL),
    OpCase(BatchNormForward(param_dim="DIM_1C11"), _bn_inputs((2, 3, 4, 5), (1, 3, 1, 1))[:3],
           id="BN-training-no-stats", **_TOL),
    OpCase(BatchNormForward(param_dim="DIM_1C11", fwd_mode="INFERENCE"),
           _bn_inputs((4, 3), (1, 3, 1, 1)), id="BN-inference-2d", **_TOL),
    OpCase(BatchNormForward(param_dim="DIM_111C", avg_factor=0.5),
           _bn_inputs((2, 3, 3, 4), (1, 1, 1, 4)), id="BN-training-NHWC", **_TOL),
    OpCase(BatchNormForward(param_dim="DIM_1C11", fwd_mode="INFERENCE"),
           _bn_inputs((1, 2, 3, 3), (1, 2, 1, 1), "float16"), id="BN-float16",
           atol=1e-2, rtol=1e-2),
    # MegEngine normalizes where the params are 1, whatever param_dim says
    OpCase(BatchNormForward(param_dim="DIM_11HW", fwd_mode="INFERENCE", epsilon=1e-5),
           _bn_inputs((2, 3, 4, 5), (1, 3, 1, 1)), id="BN-11HW-per-channel", **_TOL),
    OpCase(BatchNormForward(param_dim="DIM_11HW", avg_factor=0.1),
           _bn_inputs((2, 3, 4, 5), (1, 3, 4, 5)), id="BN-11HW-chw-training", **_TOL),
    OpCase(BatchNormForward(param_dim="DIM_1C11", avg_factor=0.1),
           _bn_inputs((2, 3, 4, 5), (2, 3, 1, 1)), id="BN-per-sample-channel", **_TOL),
    OpCase(BatchNormBackward(param_dim="DIM_11HW"), _bn_backward_inputs((2, 3, 4, 5), (1, 3, 1, 1)),
           id="BNBackward-11HW-per-channel", **_TOL),
    OpCase(BatchNormBackward(param_dim="DIM_1C11"), _bn_backward_inputs((2, 3, 4, 5), (1, 3, 1, 1)),
           id="BNBackward-training", **_TOL),
    OpCase(BatchNormBackward(param_dim="DIM_1C11"), _bn_backward_inputs((5, 3), (1, 3, 1, 1)),
           id="BNBackward-training-2d", **_TOL),
    OpCase(BatchNormBackward(param_dim="DIM_111C"), _bn_backward_inputs((2, 3, 3, 4), (1, 1, 1, 4)),
           id="BNBackward-training-NHWC", **_TOL),
    OpCase(BatchNormBackward(param_dim="DIM_1C11", fwd_mode="INFERENCE"),
           _bn_backward_inputs((2, 3, 4, 5), (1, 3, 1, 1)), id="BNBackward-inference", **_TOL),
    OpCase(BatchNormBackward(param_dim="DIM_1C11"),
           _bn_backward_inputs((2, 2, 3, 3), (1, 2, 1, 1), "float16"), id="BNBackward-float16",
           atol=1e-2, rtol=1e-2),
    OpCase(SoftmaxForward(axis=1), [rand(2, 5, 3, low=-10, high=10)], **_TOL),
    OpCase(SoftmaxForward(), [rand(4, 7)], id="Softmax-last"),
    OpCase(SoftmaxForward(axis=0), [np.array([1000.0, 1001.0, -5.0], np.float32)],
           id="Softmax-large"),
    OpCase(SoftmaxForward(axis=-1), [rand(2, 6, dtype="float16")], id="Softmax-float16",
           atol=1e-3, rtol=1e-3),
    OpCase(LayerNorm(normalized_dim=1, normalized_size=6), [rand(2, 3, 6), rand(6, seed=1),
           rand(6, seed=2)], **_TOL),
    OpCase(LayerNorm(affine=False, normalized_dim=2, normalized_size=12, eps=1e-3),
           [rand(2, 3, 4, low=-50, high=50)], id="LayerNorm-2d-no-affine", **_TOL),
    OpCase(LayerNorm(normalized_dim=1, normalized_size=8), [rand(3, 8, dtype="float16"),
           rand(8, seed=1, dtype="float16"), rand(8, seed=2, dtype="float16")],
           id="LayerNorm-float16", atol=1e-2, rtol=1e-2),
    OpCase(GroupNorm(group=2), [rand(2, 4, 3, 3), rand(4, seed=1), rand(4, seed=2)], **_TOL),
    OpCase(GroupNorm(affine=False, group=3, eps=1e-2), [rand(1, 6, 2, 5)],
           id="GroupNorm-no-affine", **_TOL),
    OpCase(InstanceNorm(), [rand(2, 3, 4, 4), rand(3, seed=1), rand(3, seed=2)], **_TOL),
    OpCase(InstanceNorm(affine=False), [rand(2, 3, 1, 5, dtype="float16")],
           id="InstanceNorm-float16", atol=1e-2, rtol=1e-2),
]

_EYE = np.eye(4, dtype="float32") * 4
CASES += [
    OpCase(MatrixInverse(), [rand(4, 4) + _EYE], **_TOL),
    OpCase(MatrixInverse(), [rand(2, 3, 4, 4) + _EYE], id="MatrixInverse-batched", **_TOL),
    OpCase(MatrixInverse(), [rand(0, 3, 3)], id="MatrixInverse-empty"),
]
CASES += [
    OpCase(SVD(), [rand(5, 3)], id="SVD-tall", **_TOL),
    OpCase(SVD(), [rand(2, 3, 6)], id="SVD-wide-batched", **_TOL),
    OpCase(SVD(compute_uv=False), [rand(4, 4)], id="SVD-values", **_TOL),
]
_MHA = dict(num_heads=2, embeding_size=4, k_size=4, v_size=6, qproj_size=4, kproj_size=4,
            vproj_size=4, oproj_size=4, qbias=True, obias=True, training=False)
CASES += [
    OpCase(MultiHeadAttn(**_MHA, sm_scaler=0.7),
           [rand(2, 3, 4), rand(2, 5, 4, seed=1), rand(2, 5, 6, seed=2), rand(1, 80, seed=3)],
           id="MultiHeadAttn", **_TOL),
    OpCase(MultiHeadAttn(**_MHA, tensor_combination_type="ONLY_MASK",
                         attn_mask_type="USER_DEFINED_MASK"),
           [rand(2, 3, 4), rand(2, 5, 4, seed=1), rand(2, 5, 6, seed=2), rand(1, 80, seed=3),
            rand(4, 3, 5, seed=4)], id="MultiHeadAttn-mask", **_TOL),
    OpCase(MultiHeadAttn(num_heads=1, embeding_size=4, k_size=4, v_size=4,
                         attn_mask_type="DEFAULT_MASK", training=False),
           [rand(1, 3, 4), rand(1, 3, 4, seed=1), rand(1, 3, 4, seed=2), rand(1, 0, seed=3)],
           id="MultiHeadAttn-causal-unprojected", **_TOL),
]
CASES += [
    OpCase(LRN(), [rand(2, 7, 3, 4)], **_TOL),
    OpCase(LRN(n=3, k=1.0, alpha=0.5, beta=0.6), [rand(1, 2, 3, 3)], id="LRN-narrow", **_TOL),
    OpCase(LRN(n=9), [rand(1, 4, 2, 2, dtype="float16")], id="LRN-float16-wide",
           atol=2e-3, rtol=2e-3),
]
CASES += [
    OpCase(GeneralNorm(axis_start=1, axis_end=3), [rand(2, 3, 4, 2), rand(3, 4), rand(3, 4)],
           **_TOL),
    OpCase(GeneralNorm(affine=False, axis_start=0, axis_end=1, eps=1e-3), [rand(5, 3)],
           id="GeneralNorm-first-axis", **_TOL),
]
