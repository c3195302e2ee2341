"""tm.optimize: FuseConvBn, FuseAddMul, BackwardFoldScale and the const passes
(AttrToConstant, FixInputShape, FlodConstant)."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
import mge.traced_module as tm
from mge.core.apply import apply
from mge.ops.shape import GetVarShape

from .nets import ConvBnNet, data


def _traced() -> tuple[tm.TracedModule, object]:
    net = ConvBnNet()
    net.eval()
    x = data(2, 3, 8, 8)
    return tm.trace_module(net, x), x


def _count_bn(traced: tm.TracedModule) -> int:
    graph = traced.graph
    return (graph.get_module_by_type(M.BatchNorm2d).as_count()
            + graph.get_module_by_type(M.ConvBn2d).as_count()
            + graph.get_module_by_type(M.ConvBnRelu2d).as_count()
            + graph.get_function_by_type(F.batch_norm).as_count())


def test_fuse_conv_bn_removes_every_batchnorm() -> None:
    traced, x = _traced()
    assert _count_bn(traced) == 3
    fused = tm.optimize(traced, enabled_pass=["FuseConvBn"])
    fused.graph.lint()
    assert _count_bn(fused) == 0
    assert _count_bn(traced) == 3, "optimize must not modify its input"
    np.testing.assert_allclose(fused(x).numpy(), traced(x).numpy(), atol=1e-4)
    assert isinstance(fused.convbn, M.ConvRelu2d)


def test_fuse_add_mul_folds_constant_chains() -> None:
    traced, x = _traced()
    fused = tm.optimize(traced, enabled_pass=["FuseAddMul"])
    fused.graph.lint()
    before = traced.graph.get_method_by_type("__mul__").as_count()
    assert before == 2
    assert fused.graph.get_function_by_type(F.mul).as_count() + \
        fused.graph.get_method_by_type("__mul__").as_count() == 1
    assert fused.graph.get_function_by_type(F.add).as_count() + \
        fused.graph.get_method_by_type("__add__").as_count() == 1
    np.testing.assert_allclose(fused(x).numpy(), traced(x).numpy(), atol=1e-5)


def test_backward_fold_scale_folds_into_conv() -> None:
    traced, x = _traced()
    opt = tm.optimize(traced, enabled_pass=["FuseConvBn", "FuseAddMul", "BackwardFoldScale"])
    opt.graph.lint()
    assert _count_bn(opt) == 0
    assert opt.graph.get_method_by_type("__mul__").as_count() == 0
    assert opt.graph.get_function_by_type(F.mul).as_count() == 0
    np.testing.assert_allclose(opt(x).numpy(), traced(x).numpy(), atol=1e-4)


def test_backward_fold_scale_enables_fuse_conv_bn(caplog: pytest.LogCaptureFixture) -> None:
    traced, x = _traced()
    opt = tm.optimize(traced, enabled_pass=["BackwardFoldScale"])
    assert "requires FuseConvBn" in caplog.text
    assert _count_bn(opt) == 0
    np.testing.assert_allclose(opt(x).numpy(), traced(x).numpy(), atol=1e-4)


def test_training_mode_batchnorm_is_not_fused() -> None:
    net = ConvBnNet()
    x = data(2, 3, 8, 8)
    net.eval()
    traced = tm.trace_module(net, x)
    traced.bn1.training = True
    fused = tm.optimize(traced, enabled_pass=["FuseConvBn"])
    assert fused.graph.get_module_by_type(M.BatchNorm2d).as_count() == 1


def test_const_passes() -> None:
    traced, x = _traced()
    opt = tm.optimize(traced, enabled_pass=["AttrToConstant", "FlodConstant", "FuseConvBn"])
    opt.graph.lint()
    text = str(opt.graph)
    assert 'getattr(%self, "w")' not in text and "Constant(" in text
    np.testing.assert_allclose(opt(x).numpy(), traced(x).numpy(), atol=1e-4)


def test_unknown_pass_is_named() -> None:
    traced, _ = _traced()
    with pytest.raises(ValueError, match="FuseEverything"):
        tm.optimize(traced, enabled_pass=["FuseEverything"])


class _ShapeNet(M.Module):
    def forward(self, x: object) -> object:
        (width,) = apply(GetVarShape(axis=1), x)
        return x * width.astype("float32")


def test_fix_input_shape_makes_traced_shapes_constants() -> None:
    x = data(2, 3)
    traced = tm.trace_module(_ShapeNet(), x)
    assert any(isinstance(e, tm.Apply) for e in traced.graph.exprs())
    fixed = tm.optimize(traced, enabled_pass=["FixInputShape"])
    fixed.graph.lint()
    assert not any(isinstance(e, tm.Apply) for e in fixed.graph.exprs())
    assert "Constant(" in str(fixed.graph)
    np.testing.assert_array_equal(fixed(x).numpy(), traced(x).numpy())


def test_constant_make_needs_insert_exprs() -> None:
    with pytest.raises(RuntimeError, match="insert_exprs"):
        tm.Constant.make(mge.tensor([1.0]))


class _SubBn(M.BatchNorm2d):
    """A BatchNorm2d subclass: traced into its forward, an ``F.batch_norm`` call."""


class _Block(M.Module):
    def __init__(self, bn_cls: type) -> None:
        super().__init__()
        self.conv, self.bn = M.Conv2d(3, 3, 1), bn_cls(3)
        self.conv2, self.bn2 = M.Conv2d(3, 3, 1), bn_cls(3)

    def forward(self, x):  # noqa: ANN001, ANN201
        return F.relu(self.bn(self.conv(x))) + F.relu(self.bn2(self.conv2(x)))


class _Two(M.Module):
    def __init__(self, bn_cls: type) -> None:
        super().__init__()
        self.block_0, self.block_1 = _Block(bn_cls), _Block(bn_cls)

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.block_0(x) + self.block_1(x)


@pytest.mark.parametrize("bn_cls", [M.BatchNorm2d, _SubBn])
def test_fuse_conv_bn_after_flatten_removes_the_bn_nodes(bn_cls: type) -> None:
    """As MegEngine's test_fuse_bn: the traced submodules flatten inlined are not second
    callers of the convs, and a BatchNorm subclass's F.batch_norm folds into a Conv2d."""
    net = _Two(bn_cls)
    for m in net.modules():
        if isinstance(m, M.BatchNorm2d):
            m.running_mean = mge.tensor(np.random.rand(1, 3, 1, 1).astype("float32"))
            m.running_var = mge.tensor(np.random.rand(1, 3, 1, 1).astype("float32") + 0.5)
    net.eval()
    x = data(1, 3, 8, 8)
    flat = tm.trace_module(net, x).flatten()
    fused = tm.optimize(flat, "FuseConvBn")
    assert _count_bn(fused) == 0
    assert fused.graph.get_node_by_name("*bn*").as_count() == 0
    np.testing.assert_allclose(fused(x).numpy(), net(x).numpy(), atol=1e-4)


class _Scaled(M.Module):
    """MegEngine's test_backward_fold_scale block: multiplies after ReLUs, adds of
    constants, a reshape, all foldable back into the two convs."""

    def __init__(self, sign: float = 1.0) -> None:
        super().__init__()
        self.conv, self.conv2 = M.Conv2d(3, 3, 1), M.Conv2d(3, 3, 1)
        self.scale = mge.tensor([3.0, 4.0])
        self.sign = sign

    def forward(self, x):  # noqa: ANN001, ANN201
        x1 = F.relu(self.conv(x)) * self.scale[0]
        x2 = F.relu(self.conv2(x)) * self.scale[1]
        y = self.scale[0] + F.add(x1 + x2, 4)
        return F.reshape(F.relu(y) * (3 * self.sign), (-1,)) * 2


def _muls(traced: tm.TracedModule) -> int:
    return (traced.graph.get_method_by_type("__mul__").as_count()
            + traced.graph.get_function_by_type(F.mul).as_count())


def test_backward_fold_scale_folds_through_relu_add_and_reshape() -> None:
    net = _Scaled()
    x = data(1, 3, 8, 8)
    opt = tm.optimize(tm.trace_module(net, x), "BackwardFoldScale")
    assert _muls(opt) == 0
    np.testing.assert_allclose(opt(x).numpy(), net(x).numpy(), rtol=1e-5, atol=1e-4)


def test_backward_fold_scale_keeps_a_negative_scale_before_a_relu() -> None:
    net = _Scaled(sign=-1.0)
    x = data(1, 3, 8, 8)
    opt = tm.optimize(tm.trace_module(net, x), "BackwardFoldScale")
    assert _muls(opt) == 2  # relu(y) * -3 * 2 folds into nothing before the last relu
    np.testing.assert_allclose(opt(x).numpy(), net(x).numpy(), rtol=1e-5, atol=1e-4)
