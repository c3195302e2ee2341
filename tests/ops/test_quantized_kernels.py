"""Integer semantics of the ops on quantized dtypes (MegEngine 1.13's, numpy kernels)."""

from __future__ import annotations

import numpy as np
import pytest

from mge.backends import get_backend
from mge.core.apply import run_op
from mge.core.opdef import OpError, TensorInfo
from mge.dtype import canonical_dtype, dtype_spec, qint8, qint32, quint8
from mge.ops import Elemwise, TypeCvt
from mge.ops.conv import ConvBiasForward
from mge.ops.nn import MatrixMul
from mge.ops.pooling import PoolingForward
from mge.ops.quantized import ElemwiseMultiType

NP = get_backend("numpy")


def test_typecvt_quantizes_with_roundf_and_saturates() -> None:
    x = np.array([0.25, -0.25, 0.7499999, 100.0, -100.0, np.nan], np.float32)
    q = run_op(TypeCvt(dtype=dtype_spec(qint8(0.5))), x, backend=NP)
    assert q.tolist() == [1, -1, 1, 127, -128, 0]  # 0.5 ties away from zero
    back = run_op(TypeCvt(dtype="float32"), q.view(qint8(0.5)), backend=NP)
    assert back.tolist() == [0.5, -0.5, 0.5, 63.5, -64.0, 0.0]
    u = run_op(TypeCvt(dtype=dtype_spec(quint8(0.5, 128))), x[:3], backend=NP)
    assert u.tolist() == [129, 127, 129]


def test_typecvt_between_quantized_dtypes_requantizes() -> None:
    acc = np.array([1000, -1001, 3], np.int32).view(qint32(0.001))
    out = run_op(TypeCvt(dtype=dtype_spec(qint8(0.01))), acc, backend=NP)
    assert out.tolist() == [100, -100, 0]


def test_dtype_spec_round_trips_exactly() -> None:
    scale = float(np.float32(0.1234567))
    dt = canonical_dtype(dtype_spec(qint8(scale)))
    assert dt.metadata["mgb_dtype"] == {"name": "QuantizedS8", "scale": scale}
    with pytest.raises(TypeError, match="QuantizedS9"):
        canonical_dtype("QuantizedS9(scale=0.5)")


def _conv_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, groups: int) -> np.ndarray:
    n, c, h, wd = x.shape
    oc, icpg, kh, kw = w.shape
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, oc, h, wd), np.int64)
    ocpg = oc // groups
    for o in range(oc):
        g = o // ocpg
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * icpg:(g + 1) * icpg, i:i + h, j:j + wd]
                out[:, o] += np.einsum("nchw,c->nhw", patch, w[o, :, i, j].astype(np.int64))
    return out + b.reshape(1, oc, 1, 1)


@pytest.mark.parametrize("groups", [1, 4])
def test_quantized_conv_bias_is_exact(groups: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (2, 8, 5, 5)).astype(np.int8)
    w = rng.integers(-128, 128, (8, 8 // groups, 3, 3)).astype(np.int8)
    b = rng.integers(-5000, 5000, (1, 8, 1, 1)).astype(np.int32)
    sx, sw, sy = 0.02, 0.003, 0.25
    sacc = float(np.float32(sx) * np.float32(sw))
    op = ConvBiasForward(pad_h=1, pad_w=1, nonlineMode="RELU", dtype=dtype_spec(qint8(sy)),
                         sparse="GROUP" if groups > 1 else "DENSE")
    filt = w.reshape(groups, 8 // groups, *w.shape[1:]) if groups > 1 else w
    got = run_op(op, x.view(qint8(sx)), filt.view(qint8(sw)), b.view(qint32(sacc)), backend=NP)
    real = np.maximum(_conv_reference(x, w, b, groups).astype(np.float32) * np.float32(sacc), 0)
    want = np.clip(np.round(real / np.float32(sy)), -128, 127)
    assert np.abs(got.astype(np.int64) - want).max() <= 1  # ties may round the other way
    assert (got == want).mean() > 0.99


def test_quantized_conv_needs_quantized_bias_and_output_dtype() -> None:
    x, w = TensorInfo((1, 2, 4, 4), qint8(0.1)), TensorInfo((2, 2, 3, 3), qint8(0.1))
    with pytest.raises(OpError, match="output dtype"):
        ConvBiasForward().infer([x, w])
    with pytest.raises(OpError, match="quantized bias"):
        ConvBiasForward(dtype=dtype_spec(qint8(1.0))).infer(
            [x, w, TensorInfo((1, 2, 1, 1), np.dtype("float32"))])
    with pytest.raises(OpError, match="QuantizedS8"):
        ConvBiasForward(dtype="float32").infer([x, TensorInfo((2, 2, 3, 3), np.float32)])


def test_int8_matmul_gives_exact_qint32() -> None:
    a = np.array([[127, -128, 5]], np.int8)
    b = np.array([[127, 127, 1], [1, 2, 3]], np.int8)
    op = MatrixMul(transposeB=True)
    (info,) = op.infer([TensorInfo(a.shape, qint8(0.5)), TensorInfo(b.shape, qint8(0.25))])
    assert info.dtype.metadata["mgb_dtype"] == {"name": "QuantizedS32", "scale": 0.125}
    out = run_op(op, a.view(qint8(0.5)), b.view(qint8(0.25)), backend=NP)
    assert out.dtype == np.int32 and out.tolist() == [[127 * 127 - 128 * 127 + 5, -114]]


def test_elemwise_on_qint32_is_integer_arithmetic() -> None:
    big = np.array([2**30, -(2**30), 7], np.int32).view(qint32(1e-4))
    out = run_op(Elemwise(mode="ADD"), big, big, backend=NP)
    assert out.tolist() == [2**31 - 1, -(2**31), 14]  # saturated, exact
    with pytest.raises(OpError, match="share one quantized dtype"):
        Elemwise(mode="ADD").infer([TensorInfo((3,), qint32(1e-4)), TensorInfo((3,), qint32(2e-4))])


def test_elemwise_multi_type_dequantizes_and_requantizes() -> None:
    a = np.array([10, -20, 100], np.int8).view(qint8(0.1))
    b = np.array([5, 5, 100], np.int8).view(qint8(0.2))
    op = ElemwiseMultiType(mode="QFUSE_ADD_RELU", dtype=dtype_spec(qint8(0.1)))
    assert run_op(op, a, b, backend=NP).tolist() == [20, 0, 127]
    with pytest.raises(OpError, match="must be quantized"):
        op.infer([TensorInfo((3,), np.dtype("float32"))] * 2)
    with pytest.raises(OpError, match="not supported"):
        ElemwiseMultiType(mode="FUSE_MUL_ADD3_INT16x32x32x32").infer([])


def test_quantized_average_pooling_rounds_half_away() -> None:
    x = np.array([[[[1, 2], [0, 0]]]], np.int8).view(qint8(1.0))  # mean 0.75 -> 1
    op = PoolingForward(mode="AVERAGE", window_h=2, window_w=2, stride_h=2, stride_w=2)
    assert run_op(op, x, backend=NP).tolist() == [[[[1]]]]
    y = np.array([[[[-1, -2], [0, 0]]]], np.int8).view(qint8(1.0))
    mx = PoolingForward(mode="MAX", window_h=2, window_w=2, stride_h=2, stride_w=2,
                        pad_h=1, pad_w=1)
    assert run_op(mx, y, backend=NP).ravel().tolist() == [-1, -2, 0, 0]
