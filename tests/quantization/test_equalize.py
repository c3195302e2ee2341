"""``equalize_cross_layer``: exact rescaling of conv pairs, dead channels, ReLU6, refusals."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.quantization import equalize_cross_layer


def _x(shape: tuple[int, ...] = (2, 3, 8, 8), seed: int = 0) -> mge.Tensor:
    return mge.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _spread(conv: M.Conv2d, seed: int) -> None:
    """Give ``conv``'s output channels ranges from 0.01 to 10 (a folded BatchNorm's)."""
    w = conv.weight.numpy()
    rows = w.reshape(w.shape[0] * (w.shape[1] if w.ndim == 5 else 1), -1)
    gains = np.logspace(-2, 1, rows.shape[0]).astype(np.float32)
    np.random.default_rng(seed).shuffle(gains)
    conv.weight[...] = mge.tensor((rows * gains[:, None]).reshape(w.shape))


def _out_ranges(conv: M.Conv2d) -> np.ndarray:
    w = conv.weight.numpy()
    return np.abs(w.reshape(w.shape[0] * (w.shape[1] if w.ndim == 5 else 1), -1)).max(1)


def _in_ranges(conv: M.Conv2d) -> np.ndarray:
    w = conv.weight.numpy()
    g = w if w.ndim == 5 else w[None]
    return np.abs(g).max(axis=(1, 3, 4)).reshape(-1)


def _weight_quant_error(conv: M.Conv2d) -> float:
    """The worst output channel's relative error under per-tensor int8 weights."""
    w = conv.weight.numpy()
    s = np.abs(w).max() / 127
    rows, err = w.reshape(w.shape[0], -1), (np.round(w / s) * s - w).reshape(w.shape[0], -1)
    return float((np.linalg.norm(err, axis=1) / np.linalg.norm(rows, axis=1)).max())


def test_conv_relu_conv_is_equalized_exactly() -> None:
    net = M.Sequential(M.Conv2d(3, 16, 3, padding=1), M.ReLU(), M.Conv2d(16, 8, 1))
    _spread(net[0], 0)
    x = _x()
    before = net(x).numpy()
    error = _weight_quant_error(net[0])
    assert equalize_cross_layer(net, x) == [("0", "2")]
    np.testing.assert_allclose(net(x).numpy(), before, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_out_ranges(net[0]), _in_ranges(net[2]), rtol=1e-4)
    assert _weight_quant_error(net[0]) < error / 3


def test_depthwise_chain_through_padding() -> None:
    # expand -> ReLU -> zero pad -> depthwise -> ReLU -> project: two pairs, the middle
    # conv moved by both until they agree
    net = M.Sequential(
        M.Conv2d(4, 12, 1), M.ReLU(), M.Pad(((0, 0), (0, 0), (0, 1), (0, 1))),
        M.Conv2d(12, 12, 3, stride=2, groups=12), M.Elemwise("relu"), M.Conv2d(12, 6, 1),
    )
    _spread(net[3], 1)
    x = _x((1, 4, 9, 9))
    before = net(x).numpy()
    assert equalize_cross_layer(net, x) == [("0", "3"), ("3", "5")]
    np.testing.assert_allclose(net(x).numpy(), before, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_out_ranges(net[0]), _in_ranges(net[3]), rtol=1e-3)
    np.testing.assert_allclose(_out_ranges(net[3]), _in_ranges(net[5]), rtol=1e-3)


def test_chain_through_pass_through_modules() -> None:
    # a float QuantStub (where the int8 part of a network starts) and an Identity return
    # their input itself: no second user of the conv's output, the pair is found
    net = M.Sequential(M.Conv2d(4, 12, 1), M.ReLU(), M.QuantStub(), M.Identity(),
                       M.Conv2d(12, 6, 1))
    _spread(net[0], 0)
    x = _x((1, 4, 5, 5))
    before = net(x).numpy()
    assert equalize_cross_layer(net, x) == [("0", "4")]
    np.testing.assert_allclose(net(x).numpy(), before, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_out_ranges(net[0]), _in_ranges(net[4]), rtol=1e-3)


def test_relu6_keep_zeroes_ignored_channels_only() -> None:
    net = M.Sequential(M.Conv2d(3, 6, 1), M.ReLU6(), M.Conv2d(6, 4, 1))
    w2 = net[2].weight.numpy()
    w2[:, 2] = 0  # the second conv ignores channel 2
    net[2].weight[...] = mge.tensor(w2)
    w1 = net[0].weight.numpy()
    w1[2] = 50.0  # ... whose large weights set the first conv's per-tensor range
    net[0].weight[...] = mge.tensor(w1)
    x = _x()
    before = net(x).numpy()
    equalize_cross_layer(net, x)
    after = net[0].weight.numpy()
    assert not after[2].any() and not net[0].bias.numpy()[0, 2].any()
    np.testing.assert_array_equal(np.delete(after, 2, 0), np.delete(w1, 2, 0))
    assert isinstance(net[1], M.ReLU6)
    np.testing.assert_allclose(net(x).numpy(), before, rtol=1e-5, atol=1e-5)


def test_relu6_relu_replaces_and_rescales() -> None:
    net = M.Sequential(M.Conv2d(3, 6, 1), M.ReLU6(), M.Conv2d(6, 4, 1), M.Elemwise("relu6"),
                       M.Conv2d(4, 2, 1))
    _spread(net[0], 2)
    equalize_cross_layer(net, _x(), relu6="relu")
    assert type(net[1]) is M.ReLU and net[3].method == "relu"
    np.testing.assert_allclose(_out_ranges(net[0]), _in_ranges(net[2]), rtol=1e-3)


def test_relu6_data_rescales_within_what_keeps_relu6_exact() -> None:
    net = M.Sequential(M.Conv2d(3, 6, 1), M.ReLU6(), M.Conv2d(6, 4, 1))
    _spread(net[0], 2)
    x = _x()
    pre = net[0](x).numpy().max(axis=(0, 2, 3))
    before, w1 = net(x).numpy(), _out_ranges(net[0])
    equalize_cross_layer(net, x, relu6="data", margin=1.25)
    assert isinstance(net[1], M.ReLU6)
    np.testing.assert_allclose(net(x).numpy(), before, rtol=1e-4, atol=1e-4)
    growth = _out_ranges(net[0]) / w1  # 1 / s per channel
    peak = np.maximum(pre, 0) * growth
    free = 1.25 * np.maximum(pre, 0) <= 6
    assert free.any() and not free.all()
    assert np.all(peak[free] <= 6 / 1.25 * (1 + 1e-5))  # still below the margin
    np.testing.assert_allclose(growth[~free], 1.0)  # saturating channels are left alone
    assert not np.allclose(growth[free], 1.0)
    with pytest.raises(ValueError, match="margin"):
        equalize_cross_layer(net, x, relu6="data", margin=0.5)


class _Residual(M.Module):
    """conv -> ReLU -> conv, the ReLU's result also added in ``forward`` (no module)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.relu, self.b = M.Conv2d(4, 4, 1), M.ReLU(), M.Conv2d(4, 4, 1)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = self.relu(self.a(x))
        return self.b(y) + y


def test_tensor_used_outside_modules_is_refused_and_restored() -> None:
    net = _Residual()
    _spread(net.a, 3)
    x = _x((1, 4, 5, 5))
    w = net.a.weight.numpy().copy()
    with pytest.raises(ValueError, match="functional op in forward"):
        equalize_cross_layer(net, x)
    np.testing.assert_array_equal(net.a.weight.numpy(), w)


class _TwoUsers(M.Module):
    """conv -> ReLU read by two convs: no pair."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.relu = M.Conv2d(3, 4, 1), M.ReLU()
        self.b, self.c = M.Conv2d(4, 2, 1), M.Conv2d(4, 2, 1)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = self.relu(self.a(x))
        return F.concat([self.b(y), self.c(y)], 1)


def test_branching_and_non_linear_steps_make_no_pair() -> None:
    assert equalize_cross_layer(_TwoUsers(), _x()) == []
    net = M.Sequential(M.Conv2d(3, 4, 1), M.Sigmoid(), M.Conv2d(4, 2, 1))
    assert equalize_cross_layer(net, _x()) == []


def test_bad_relu6_mode() -> None:
    with pytest.raises(ValueError, match="relu6 must be"):
        equalize_cross_layer(M.Sequential(M.Conv2d(3, 4, 1)), _x(), relu6="clip")
