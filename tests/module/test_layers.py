"""Leaf modules: parameter shapes and init, repr (as MegEngine prints it), forward results
on every backend, training behaviour and errors for bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M

RNG = np.random.default_rng(0)


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype("float32")


def _run(module: M.Module, *arrays: np.ndarray) -> np.ndarray:
    return module(*(mge.tensor(a) for a in arrays)).numpy()


def test_parameter_shapes():
    assert M.Conv2d(3, 8, 3).weight.shape == (8, 3, 3, 3)
    assert M.Conv2d(3, 8, 3).bias.shape == (1, 8, 1, 1)
    assert M.Conv2d(4, 6, (1, 3), groups=2).weight.shape == (2, 3, 2, 1, 3)
    assert M.Conv2d(3, 8, 3, bias=False).bias is None
    assert M.Linear(3, 5).weight.shape == (5, 3) and M.Linear(3, 5).bias.shape == (5,)
    bn = M.BatchNorm2d(4)
    assert {t.shape for t in bn.tensors()} == {(1, 4, 1, 1)}
    assert [k for k, _ in bn.named_buffers()] == ["running_mean", "running_var"]
    assert M.BatchNorm1d(4, affine=False).weight is None
    assert M.PReLU().weight.shape == (1,) and M.PReLU(3).weight.shape == (1, 3, 1, 1)


def test_default_init_statistics():
    mge.random.seed(0)
    w = M.Conv2d(64, 128, 3).weight.numpy()
    assert w.std() == pytest.approx(np.sqrt(1 / (64 * 9)), rel=0.02)
    fc = M.Linear(400, 300)
    assert fc.weight.numpy().std() == pytest.approx(np.sqrt(1 / 400), rel=0.02)
    assert not fc.bias.numpy().any()


REPRS = [  # printed by MegEngine 1.13.0
    (lambda: M.AvgPool2d(3),
     "AvgPool2d(kernel_size=3, stride=3, padding=0, mode=average_count_exclude_padding)"),
    (lambda: M.MaxPool2d(2, 1, 1), "MaxPool2d(kernel_size=2, stride=1, padding=1)"),
    (lambda: M.Softmax(), "Softmax(axis=None)"),
    (lambda: M.Dropout(0.2), "Dropout(drop_prob=0.2)"),
    (lambda: M.PReLU(3), "PReLU()"),
    (lambda: M.Identity(), "Identity()"),
    (lambda: M.Elemwise("ADD"), "Elemwise()"),
    (lambda: M.AdaptiveAvgPool2d(2), "AdaptiveAvgPool2d()"),
    (lambda: M.Linear(2, 3, bias=False), "Linear(in_features=2, out_features=3, bias=False)"),
    (lambda: M.ConvBnRelu2d(2, 4, 3, groups=2, stride=2, padding=1, bias=False),
     "ConvBnRelu2d(\n"
     "  (conv): Conv2d(2, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2, "
     "bias=False)\n"
     "  (bn): BatchNorm2d(4, eps=1e-05, momentum=0.9, affine=True, track_running_stats=True)\n"
     ")"),
]


@pytest.mark.parametrize(("make", "text"), REPRS)
def test_repr_matches_megengine(make, text):
    assert repr(make()) == text


def test_construction_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        M.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        M.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        M.Conv2d(3, 4, 3, padding_mode="circular")
    with pytest.raises(ValueError, match="stride must be an int or a pair of ints >= 1"):
        M.Conv2d(3, 4, 3, stride=0)
    with pytest.raises(ValueError, match="track_running_stats must be"):
        M.BatchNorm2d(3, track_running_stats=False, freeze=True)


def test_conv_family_forward(each_backend):
    conv = M.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    x = _x(2, 4, 7, 7)
    ref = F.conv2d(mge.tensor(x), conv.weight, conv.bias, 2, 1, 1, 2).numpy()
    np.testing.assert_allclose(_run(conv, x), ref, rtol=1e-6, atol=1e-6)
    relu = M.ConvRelu2d(4, 6, 3)
    relu.load_state_dict(M.Conv2d(4, 6, 3).state_dict())
    plain = M.Conv2d(4, 6, 3)
    plain.load_state_dict(relu.state_dict())
    np.testing.assert_allclose(_run(relu, x), np.maximum(_run(plain, x), 0), atol=1e-6)


def test_conv_padding_modes(each_backend):
    conv = M.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="reflect")
    x = _x(1, 2, 5, 6)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)), mode="reflect")
    plain = M.Conv2d(2, 3, 3)
    plain.load_state_dict(conv.state_dict())
    np.testing.assert_allclose(_run(conv, x), _run(plain, padded), rtol=1e-5, atol=1e-5)


def test_conv_bn_modules(each_backend):
    cb, cbr = M.ConvBn2d(3, 4, 3, padding=1), M.ConvBnRelu2d(3, 4, 3, padding=1)
    state = {k: RNG.uniform(0.5, 1.5, v.shape).astype("float32")
             for k, v in cb.state_dict().items()}
    cb.load_state_dict(state)
    cbr.load_state_dict(state)
    cb.eval()
    cbr.eval()
    x = _x(2, 3, 5, 5)
    ref = cb.bn(cb.conv(mge.tensor(x))).numpy()
    np.testing.assert_allclose(_run(cb, x), ref, atol=1e-6)
    np.testing.assert_allclose(_run(cbr, x), np.maximum(ref, 0), atol=1e-6)


def test_linear_forward(each_backend):
    fc = M.Linear(5, 3)
    fc.bias.set_value(_x(3))
    x = _x(2, 4, 5)
    ref = x @ fc.weight.numpy().T + fc.bias.numpy()
    np.testing.assert_allclose(_run(fc, x), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_run(M.LinearRelu(5, 3), x).min(), 0.0)


def _bn_reference(x, mean, var, w, b, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) \
        + b.reshape(shape)


def test_batchnorm_eval_uses_running_statistics(each_backend):
    bn = M.BatchNorm2d(3)
    state = {k: RNG.uniform(0.5, 2.0, 3).astype("float32") for k in bn.state_dict()}
    bn.load_state_dict(state)
    bn.eval()
    x = _x(2, 3, 4, 4)
    ref = _bn_reference(x, state["running_mean"], state["running_var"], state["weight"],
                        state["bias"])
    np.testing.assert_allclose(_run(bn, x), ref, rtol=1e-5, atol=1e-5)


def test_batchnorm_training_updates_running_statistics(each_backend):
    bn = M.BatchNorm2d(3)
    x = _x(2, 3, 4, 4) + 2
    y = _run(bn, x)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(y, _bn_reference(x, mean, var, np.ones(3), np.zeros(3)),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean.numpy().ravel(), 0.1 * mean, rtol=1e-5)
    unbiased = x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_var.numpy().ravel(), 0.9 + 0.1 * unbiased, rtol=1e-5)


def test_batchnorm_freeze_and_untracked(each_backend):
    x = _x(2, 3, 4, 4) + 2
    frozen = M.BatchNorm2d(3, freeze=True)
    np.testing.assert_allclose(_run(frozen, x), x / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert not frozen.running_mean.numpy().any()
    untracked = M.BatchNorm2d(3, track_running_stats=False)
    untracked.eval()
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(_run(untracked, x),
                               _bn_reference(x, mean, var, np.ones(3), np.zeros(3)),
                               rtol=1e-4, atol=1e-4)


def test_batchnorm1d_ranks(each_backend):
    bn = M.BatchNorm1d(4)
    bn.eval()
    for shape in ((3, 4), (3, 4, 5)):
        x = _x(*shape)
        np.testing.assert_allclose(_run(bn, x), x / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_activations(each_backend):
    x = _x(2, 3, 4)
    sig = 1 / (1 + np.exp(-x))
    cases = [
        (M.ReLU(), np.maximum(x, 0)),
        (M.Sigmoid(), sig),
        (M.SiLU(), x * sig),
        (M.LeakyReLU(0.2), np.where(x > 0, x, 0.2 * x)),
        (M.PReLU(), np.where(x > 0, x, 0.25 * x)),
        (M.Softmax(axis=1), np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
    ]
    for module, ref in cases:
        np.testing.assert_allclose(_run(module, x), ref, rtol=1e-5, atol=1e-6,
                                   err_msg=type(module).__name__)
    gelu = _run(M.GELU(), np.array([-2, -1, 0, 1, 2], "float32"))
    np.testing.assert_allclose(gelu, [-0.0455, -0.1587, 0.0, 0.8413, 1.9545], atol=1e-4)
    per_channel = M.PReLU(3, init=0.5)
    np.testing.assert_allclose(_run(per_channel, -np.ones((1, 3, 2, 2), "float32")), -0.5)


def test_pooling_matches_megengine_examples(each_backend):
    x = np.arange(16, dtype="float32").reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(_run(M.MaxPool2d(3, 1, 0), x)[0, 0], [[10, 11], [14, 15]])
    np.testing.assert_array_equal(_run(M.AdaptiveMaxPool2d((2, 2)), x)[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(_run(M.AdaptiveAvgPool2d((2, 2)), x)[0, 0],
                                  [[2.5, 4.5], [10.5, 12.5]])
    y = np.arange(12, dtype="float32").reshape(1, 1, 3, 4)
    avg = M.AvgPool2d(kernel_size=2, stride=2, padding=[1, 0], mode="average")
    np.testing.assert_array_equal(_run(avg, y)[0, 0], [[0.25, 1.25], [6.5, 8.5]])


def test_wrapper_modules(each_backend):
    a, b = _x(2, 3), _x(2, 3)
    np.testing.assert_allclose(_run(M.Elemwise("ADD"), a, b), a + b, rtol=1e-6)
    np.testing.assert_allclose(_run(M.Elemwise("fuse_add_relu"), a, b), np.maximum(a + b, 0),
                               rtol=1e-6)
    out = M.Concat()([mge.tensor(a), mge.tensor(b)], axis=1).numpy()
    np.testing.assert_array_equal(out, np.concatenate([a, b], axis=1))
    ident = M.Identity()
    t = mge.tensor(a)
    assert ident(t) is not t
    np.testing.assert_array_equal(ident(t).numpy(), a)
    pad = M.Pad(((1, 1), (1, 2)), mode="replicate")
    np.testing.assert_array_equal(_run(pad, a), np.pad(a, ((1, 1), (1, 2)), mode="edge"))
    const = M.Pad(((1, 1),), constant_val=9)
    assert _run(const, a)[0].tolist() == [9, 9, 9]


def test_dropout_train_and_eval(each_backend):
    x = np.ones((100, 100), "float32")
    drop = M.Dropout(0.5)
    y = _run(drop, x)
    assert set(np.unique(y).tolist()) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6
    drop.eval()
    np.testing.assert_array_equal(_run(drop, x), x)


@pytest.mark.parametrize(
    ("module", "shape", "message"),
    [
        (M.Conv2d(3, 8, 3), (2, 5, 8, 8),
         r"Conv2d\(3, 8, kernel_size=\(3, 3\)\): expected input of shape \(N, 3, H, W\), "
         r"got \(2, 5, 8, 8\)"),
        (M.Conv2d(3, 8, 3), (3, 8, 8), r"got \(3, 8, 8\)"),
        (M.Linear(512, 10), (2, 512, 7, 7),
         r"Linear\(in_features=512, out_features=10, bias=True\): expected input of shape "
         r"\(\.\.\., 512\), got \(2, 512, 7, 7\)"),
        (M.BatchNorm2d(4), (2, 4, 3), r"BatchNorm2d\(4, .*\): expected 4D input .* \(2, 4, 3\)"),
        (M.BatchNorm1d(4), (2, 3), r"expected 2D or 3D input with 4 channels .* \(2, 3\)"),
    ],
)
def test_bad_inputs_name_module_and_shapes(module, shape, message):
    with pytest.raises(ValueError, match=message):
        module(mge.tensor(np.zeros(shape, "float32")))
