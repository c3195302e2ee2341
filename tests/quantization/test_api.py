"""mge.quantization's API beyond the oracle fixtures: dtypes, qparams, conversions of
whole networks, BatchNorm fusion, and the errors bad input gets."""

from __future__ import annotations

import copy
import pickle
from functools import partial

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
import mge.module.qat as QAT
import mge.module.quantized as Q
from mge.core.tensor import dtype
from mge.quantization import (
    FakeQuantize,
    MinMaxObserver,
    PassiveObserver,
    QConfig,
    QuantMode,
    create_qparams,
    disable_fake_quant,
    disable_observer,
    enable_fake_quant,
    fake_quant_tensor,
    min_max_fakequant_qconfig,
    propagate_qconfig,
    quantize,
    quantize_qat,
)
from mge.utils.bn_fusion import fuse_conv_bn_relu_module, fuse_linear_bn_relu_module


def rand(*shape: int) -> np.ndarray:
    return np.random.default_rng(7).standard_normal(shape).astype("float32")


def test_quantized_dtypes() -> None:
    q = dtype.quint8(0.5, 3)
    assert dtype.is_quantize(q) and not dtype.is_quantize(np.uint8)
    assert (dtype.get_scale(q), dtype.get_zero_point(q)) == (0.5, 3)
    assert dtype.is_dtype_equal(q, dtype.quint8(0.5, 3))
    assert not dtype.is_dtype_equal(q, dtype.quint8(0.5, 4))
    assert not dtype.is_dtype_equal(dtype.qint8(0.5), np.int8)
    with pytest.raises(ValueError, match="zero_point should be within"):
        dtype.quint8(0.5, 300)
    with pytest.raises(ValueError, match="only supports symmetric"):
        dtype.create_quantized_dtype(dtype.QuantDtypeMeta("x", "QuantizedS8", "int8", -1, 1),
                                     0.1, 3)
    with pytest.raises(ValueError, match="not a quantized dtype"):
        dtype.get_scale(np.float32)
    with pytest.raises(ValueError, match="no zero point"):
        dtype.get_zero_point(dtype.qint8(0.1))


def test_numpy_conversions_follow_megengine_helpers() -> None:
    x = np.array([0.25, -0.35, 30.0], "float32")
    q = dtype.convert_to_qint8(x, dtype.qint8(0.1))
    assert q.tolist() == [2, -4, 127]  # numpy's half-to-even, as MegEngine's helper
    np.testing.assert_allclose(dtype.convert_from_qint8(q), [0.2, -0.4, 12.7], rtol=1e-6)
    with pytest.raises(ValueError, match="should be a quint8 dtype"):
        dtype.convert_to_quint8(x, dtype.qint8(0.1))


def test_tensor_keeps_quantized_dtype_and_qparams() -> None:
    t = mge.tensor([3, -10], dtype=dtype.qint8(0.1))  # the codes, as MegEngine takes them
    assert t.numpy().tolist() == [3, -10] and dtype.get_scale(t.numpy().dtype) == 0.1
    t.qparams.update(create_qparams(QuantMode.SYMMERTIC, "qint8", 0.1))
    for clone in (copy.deepcopy(t), pickle.loads(pickle.dumps(t))):
        assert dtype.is_dtype_equal(clone.dtype, t.dtype)
        assert clone.qparams == t.qparams
    with pytest.raises(TypeError, match="must be a QParams"):
        t.qparams = 0.1
    assert mge.tensor([1.0]).qparams.scale is None


def test_requantize_and_elementwise_on_quantized() -> None:
    x = mge.tensor([0.3, -1.2, 2.0]).astype(dtype.qint8(0.1))
    assert x.astype(dtype.qint8(0.2)).numpy().tolist() == [2, -6, 10]
    s = F.elemwise._elemwise_multi_type(x, x, mode="qadd", dtype=dtype.qint8(0.5))
    assert s.numpy().tolist() == [1, -5, 8]
    with pytest.raises(ValueError, match="input 1 must be a quantized tensor"):
        F.elemwise._elemwise_multi_type(x, mge.tensor([1.0, 2, 3]), mode="qadd",
                                        dtype=dtype.qint8(0.5))


def test_bad_input_errors_name_the_module_and_dtype() -> None:
    qat = QAT.Linear(3, 2)
    propagate_qconfig(qat, min_max_fakequant_qconfig)
    int8 = mge.tensor([[1.0, 2.0, 3.0]]).astype(dtype.qint8(0.1))
    with pytest.raises(TypeError, match=r"Linear: QAT modules .* QuantizedS8\(scale=0.1\)"):
        qat(int8)
    q = Q.Linear.from_qat_module(qat)
    q.eval()
    with pytest.raises(TypeError, match="Linear: the input must be a quantized tensor.*float32"):
        q(mge.tensor([[1.0, 2.0, 3.0]]))
    with pytest.raises(ValueError, match="only support inference"):
        q.train()
        q(int8)
    stub = Q.QuantStub(dtype.qint8(0.1))
    stub.eval()
    with pytest.raises(TypeError, match="QuantStub: expected a float tensor"):
        stub(int8)
    with pytest.raises(ValueError, match="unknown dtype: qint7"):
        MinMaxObserver(dtype="qint7")
    with pytest.raises(ValueError, match="needs qparams"):
        FakeQuantize("qint8")(mge.tensor([1.0]))
    with pytest.raises(ValueError, match="need a scale"):
        fake_quant_tensor(mge.tensor([1.0]), create_qparams(QuantMode.SYMMERTIC, "qint8"))
    with pytest.raises(ValueError, match="set_qparams"):
        PassiveObserver("qint8").scale  # noqa: B018
    with pytest.raises(ValueError, match="observer instance"):
        QConfig(MinMaxObserver(), None, None, None)


class _Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = M.QuantStub()
        self.blocks = [M.ConvBnRelu2d(3, 4, 3, padding=1), M.ConvBn2d(4, 4, 1)]
        self.skip = M.Conv2d(3, 4, 1)
        self.skip.disable_quantize()
        self.dequant = M.DequantStub()

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = self.quant(x)
        for block in self.blocks:
            x = block(x)
        return self.dequant(x)


def test_quantize_qat_walks_lists_and_respects_disable_quantize() -> None:
    mge.random.seed(5)
    qat = quantize_qat(_Net(), inplace=False, qconfig=min_max_fakequant_qconfig)
    assert [type(b) for b in qat.blocks] == [QAT.ConvBnRelu2d, QAT.ConvBn2d]
    assert type(qat.skip) is M.Conv2d and type(qat.blocks[0].conv) is M.Conv2d
    x = mge.tensor(rand(2, 3, 6, 6))
    qat(x)
    qat.eval()
    disable_observer(qat)
    q = quantize(qat, inplace=False)
    q.eval()
    assert [type(b) for b in q.blocks] == [Q.ConvBnRelu2d, Q.ConvBn2d]
    step = dtype.get_scale(q.blocks[1].output_dtype)
    np.testing.assert_allclose(q(x).numpy(), qat(x).numpy(), atol=step * 1.01)


def test_linear_bn_and_batch_matmul_roads() -> None:
    qconfig = QConfig(partial(MinMaxObserver, dtype="qint8_narrow"), MinMaxObserver,
                      partial(FakeQuantize, dtype="qint8_narrow"),
                      partial(FakeQuantize, dtype="qint8"))
    mge.random.seed(11)
    x = mge.tensor(rand(5, 6))
    for float_net, inp in ((M.LinearBnRelu1d(6, 3), x),
                           (M.BatchMatMulActivation(5, 6, 3, nonlinear_mode="relu"),
                            mge.tensor(rand(5, 6, 4)))):
        net = M.Sequential(M.QuantStub(), float_net, M.DequantStub())
        qat = quantize_qat(net, inplace=False, qconfig=qconfig)
        qat.train()
        qat(inp)  # observes (and moves BatchNorm's running statistics)
        qat.eval()
        disable_fake_quant(qat)
        ref = qat(inp).numpy()
        enable_fake_quant(qat)
        fq = qat(inp).numpy()
        q = quantize(qat, inplace=False)
        q.eval()
        step = dtype.get_scale(q[1].output_dtype)
        # fake quantization error: a few steps of the output, accumulated over 6 products
        assert np.abs(fq - ref).max() < 0.05 * np.abs(ref).max() + 2 * step
        np.testing.assert_allclose(q(inp).numpy(), fq, atol=step * 1.01)


@pytest.mark.parametrize("training", [False, True])
def test_bn_fusion(training: bool) -> None:
    conv, bn, relu = M.Conv2d(3, 4, 3, groups=1), M.BatchNorm2d(4), M.ReLU()
    linear, bn1 = M.Linear(3, 4), M.BatchNorm1d(4)
    for m, values in ((bn, rand(4)), (bn1, rand(4))):
        m.running_mean[...] = mge.tensor(values.reshape(m.running_mean.shape))
    for m in (conv, bn, linear, bn1):
        m.train(training)
    x, v = mge.tensor(rand(2, 3, 5, 5)), mge.tensor(rand(2, 3))
    fused = fuse_conv_bn_relu_module(conv, bn, relu)
    assert type(fused) is (M.ConvBnRelu2d if training else M.ConvRelu2d)
    fused_l = fuse_linear_bn_relu_module(linear, bn1, None)
    assert type(fused_l) is (M.LinearBn1d if training else M.Linear)
    np.testing.assert_allclose(fused(x).numpy(), relu(bn(conv(x))).numpy(), atol=1e-4)
    np.testing.assert_allclose(fused_l(v).numpy(), bn1(linear(v)).numpy(), atol=1e-4)


@pytest.mark.parametrize("groups", [1, 4])
def test_fuse_conv_transpose_bn_relu(groups: int) -> None:
    from mge.module import BatchNorm2d, ConvTranspose2d, ReLU
    from mge.utils.bn_fusion import fuse_conv_bn_relu_module

    rng = np.random.default_rng(0)
    conv, bn, relu = ConvTranspose2d(8, 16, 3, stride=2, groups=groups), BatchNorm2d(16), ReLU()
    bn.running_mean[:] = rng.standard_normal((1, 16, 1, 1)).astype(np.float32)
    bn.running_var[:] = rng.random((1, 16, 1, 1)).astype(np.float32) + 0.5
    x = mge.tensor(rng.standard_normal((2, 8, 5, 5)).astype(np.float32))
    conv.eval()
    bn.eval()
    folded = fuse_conv_bn_relu_module(conv, bn, relu)
    assert type(folded).__name__ == "ConvTransposeRelu2d"
    np.testing.assert_allclose(folded(x).numpy(), relu(bn(conv(x))).numpy(), atol=1e-5)
    conv.train()
    bn.train()
    fused = fuse_conv_bn_relu_module(conv, bn, None)
    assert type(fused).__name__ == "ConvTransposeBn2d"
    np.testing.assert_allclose(fused(x).numpy(), bn(conv(x)).numpy(), atol=1e-5)
