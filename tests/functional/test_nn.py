"""F.nn: numerics against torch.nn.functional on both backends, MegEngine-specific rules
(adaptive windows, softmax axis, matmul broadcasting, BN statistics) and argument errors
raised before any op runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.core.apply import add_observer, apply, remove_observer
from mge.ops.conv import ConvBiasForward

from ..oracle import golden_arrays, golden_cases

torch = pytest.importorskip("torch", reason="compares against torch.nn.functional")
tF = torch.nn.functional

FIXTURE = Path(__file__).parent.parent / "fixtures" / "nn" / "oracle.npz"


#: every test runs once per backend (``tests/conftest.py``; torch is there, as imported)
pytestmark = pytest.mark.usefixtures("each_backend")


def _rand(*shape: int, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _close(got: mge.Tensor, want: torch.Tensor | np.ndarray, tol: float = 1e-4) -> None:
    want = want.numpy() if isinstance(want, torch.Tensor) else want
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy().astype(np.float64), want.astype(np.float64),
                               atol=tol, rtol=tol)


@contextlib.contextmanager
def _raises_before_ops(exc: type[Exception], match: str) -> Iterator[None]:
    """Expect ``exc`` matching ``match`` with no op applied on the way."""
    ran: list[str] = []

    def observe(op, inputs, outputs) -> None:  # noqa: ANN001
        ran.append(op.type_name)

    add_observer(observe)
    try:
        with pytest.raises(exc, match=match):
            yield
    finally:
        remove_observer(observe)
    assert not ran, f"ops ran before the error: {ran}"


# ----------------------------------------------------------------------------- oracle
@pytest.mark.parametrize("case", golden_cases(FIXTURE), ids=lambda c: c["id"])
def test_matches_megengine(case: dict) -> None:
    """Outputs (and in-place updates) equal MegEngine 1.13's (``tests/fixtures/nn``)."""
    got = golden_arrays(FIXTURE, case["id"])
    inputs = [mge.tensor(got[f"in{k}"]) for k in range(sum(k.startswith("in") for k in got))]
    if case["fn"] == "ConvBias":
        outs = apply(ConvBiasForward(**case["kwargs"]), *inputs)
    else:
        outs = getattr(F, case["fn"])(*inputs, **case["kwargs"])
    outs = outs if isinstance(outs, tuple) else (outs,)
    tol = 1e-2 if inputs[0].dtype == np.float16 else 1e-5
    for k, out in enumerate(outs):
        _close(out, got[f"out{k}"], tol)
    for k, t in enumerate(inputs):
        if f"after{k}" in got:
            _close(t, got[f"after{k}"], tol)


# ----------------------------------------------------------------------------- conv2d
@pytest.mark.parametrize(
    ("xshape", "wshape", "kwargs"),
    [
        ((2, 3, 9, 8), (4, 3, 3, 3), {"padding": 1}),
        ((2, 3, 9, 10), (5, 3, 3, 2), {"stride": (2, 3), "padding": (1, 2)}),
        ((1, 4, 11, 12), (6, 4, 3, 3), {"dilation": (2, 3), "padding": 2}),
        ((2, 6, 7, 7), (3, 4, 2, 3, 3), {"groups": 3, "padding": 1}),
        ((1, 8, 9, 9), (8, 1, 1, 3, 3), {"groups": 8, "stride": 2, "padding": 1}),
        ((0, 3, 5, 5), (4, 3, 3, 3), {"padding": 1}),
    ],
    ids=["basic", "stride-nonsquare", "dilation", "group", "depthwise", "zero-batch"],
)
def test_conv2d_matches_torch(xshape, wshape, kwargs) -> None:  # noqa: ANN001
    x, w, b = _rand(*xshape), _rand(*wshape, seed=1), _rand(1, wshape[-4], 1, 1, seed=2)
    groups = kwargs.get("groups", 1)
    bias = _rand(1, w.shape[0] * w.shape[1] if groups > 1 else w.shape[0], 1, 1, seed=2)
    b = bias if groups > 1 else b
    got = F.conv2d(mge.tensor(x), mge.tensor(w), mge.tensor(b), **kwargs)
    tw = _t(w.reshape(-1, *w.shape[-3:]))
    want = tF.conv2d(_t(x), tw, _t(b.reshape(-1)), kwargs.get("stride", 1),
                     kwargs.get("padding", 0), kwargs.get("dilation", 1), groups)
    _close(got, want)


def test_conv2d_convolution_mode_flips_the_kernel() -> None:
    x, w = _rand(1, 2, 6, 5), _rand(3, 2, 3, 2, seed=1)
    got = F.conv2d(mge.tensor(x), mge.tensor(w), padding=1, conv_mode="convolution")
    _close(got, tF.conv2d(_t(x), _t(w).flip((2, 3)), padding=1))


def test_conv_bias_op_adds_z_before_the_nonlinearity() -> None:
    x, w, b, z = _rand(1, 4, 5, 5), _rand(2, 3, 2, 3, 3, seed=1), _rand(1, 6, 1, 1), _rand(
        1, 6, 5, 5, seed=3)
    op = ConvBiasForward(nonlineMode="RELU", pad_h=1, pad_w=1, sparse="GROUP")
    (got,) = apply(op, *(mge.tensor(a) for a in (x, w, b, z)))
    conv = F.conv2d(mge.tensor(x), mge.tensor(w), mge.tensor(b), padding=1, groups=2)
    _close(got, np.maximum(conv.numpy() + z, 0))


def test_conv2d_float16() -> None:
    x, w = _rand(1, 3, 6, 6, dtype="float16"), _rand(4, 3, 3, 3, seed=1, dtype="float16")
    got = F.conv2d(mge.tensor(x), mge.tensor(w), compute_mode="float32")
    assert got.dtype == np.float16
    want = tF.conv2d(_t(x).float(), _t(w).float())
    _close(got, want, tol=2e-2)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        (((1, 3, 5), (4, 3, 3, 3)), {}, ValueError, r"conv2d: inp must be 4-d.*\(1, 3, 5\)"),
        (((1, 3, 5, 5), (4, 2, 3, 3)), {}, ValueError,
         r"conv2d: input \(1, 3, 5, 5\) has 3 channels but weight \(4, 2, 3, 3\)"),
        (((1, 4, 5, 5), (4, 2, 3, 3)), {"groups": 2}, ValueError, r"conv2d: weight must be 5-d"),
        (((1, 4, 5, 5), (3, 2, 2, 3, 3)), {"groups": 2}, ValueError, r"must start with groups=2"),
        (((1, 3, 2, 2), (4, 3, 3, 3)), {}, ValueError, r"kernel \(3, 3\).*larger than input"),
        (((1, 3, 5, 5), (4, 3, 3, 3)), {"conv_mode": "full"}, ValueError,
         r"conv2d: unknown conv_mode 'full'"),
        (((1, 3, 5, 5), (4, 3, 3, 3)), {"compute_mode": "fast"}, ValueError,
         r"unknown compute_mode"),
        (((1, 3, 5, 5), (4, 3, 3, 3)), {"stride": 0}, ValueError, r"stride must be >= 1"),
        (((1, 3, 5, 5), (4, 3, 3, 3)), {"padding": 1.5}, TypeError, r"padding must be an int"),
        (((1, 3, 5, 5), (4, 3, 3, 3)), {"groups": 0}, ValueError, r"groups must be a positive"),
    ],
)
def test_conv2d_errors(args, kwargs, exc, match) -> None:  # noqa: ANN001
    x, w = (mge.tensor(_rand(*s)) for s in args)
    with _raises_before_ops(exc, match):
        F.conv2d(x, w, **kwargs)


@pytest.mark.parametrize(
    ("xshape", "wshape", "kwargs"),
    [
        ((2, 4, 5, 4), (4, 3, 3, 3), {"stride": 2, "padding": 1}),
        ((1, 3, 4, 4), (3, 2, 3, 2), {"stride": (2, 3), "padding": (1, 0),
                                      "output_padding": (1, 2)}),
        ((1, 6, 4, 5), (3, 2, 2, 3, 2), {"groups": 3, "dilation": (2, 1), "stride": 2}),
        ((0, 4, 3, 3), (4, 2, 2, 2), {"stride": 2}),
    ],
    ids=["stride-pad", "output-padding", "group-dilation", "zero-batch"],
)
def test_conv_transpose2d_matches_torch(xshape, wshape, kwargs) -> None:  # noqa: ANN001
    x, w = _rand(*xshape), _rand(*wshape, seed=1)
    groups = kwargs.get("groups", 1)
    got = F.conv_transpose2d(mge.tensor(x), mge.tensor(w), **kwargs)
    tw = _t(w.reshape(-1, *w.shape[-3:]))
    want = tF.conv_transpose2d(_t(x), tw, None, kwargs.get("stride", 1), kwargs.get("padding", 0),
                               kwargs.get("output_padding", 0), groups, kwargs.get("dilation", 1))
    _close(got, want)


def test_conv_transpose2d_errors() -> None:
    x = mge.tensor(_rand(1, 4, 3, 3))
    with _raises_before_ops(ValueError, r"conv_transpose2d: input \(1, 4, 3, 3\) has 4 chan"):
        F.conv_transpose2d(x, mge.tensor(_rand(3, 2, 3, 3)))
    with _raises_before_ops(ValueError, r"output_padding \(2, 2\) must be smaller than str"):
        F.conv_transpose2d(x, mge.tensor(_rand(4, 2, 3, 3)), stride=2, output_padding=2)
    with _raises_before_ops(ValueError, r"conv_transpose2d: padding \(3, 3\) leaves no output"):
        F.conv_transpose2d(x, mge.tensor(_rand(4, 2, 1, 1)), padding=3)


def test_conv2d_dtype_errors() -> None:
    with _raises_before_ops(TypeError, r"conv2d: inp must be float32 or float16, got int32"):
        F.conv2d(mge.tensor(np.ones((1, 1, 3, 3), np.int32)),
                 mge.tensor(np.ones((1, 1, 1, 1), np.int32)))
    # an integer input with a float filter runs in the filter's dtype (MegEngine 1.13 gives
    # float32 [13 15 17 19] for arange(24).reshape(1, 2, 3, 4), ones((3, 2, 1, 1)) + 1)
    got = F.conv2d(mge.tensor(np.arange(24).reshape(1, 2, 3, 4)), F.ones((3, 2, 1, 1)),
                   F.ones((1, 3, 1, 1)))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.numpy().ravel()[:4], [13, 15, 17, 19])
    # mixed float dtypes promote, as in MegEngine (float16 with float32 runs in float32)
    x, w = _rand(1, 2, 3, 3), _rand(1, 2, 2, 2, dtype="float16")
    mixed = F.conv2d(mge.tensor(x.astype("float16")), mge.tensor(w.astype("float32")))
    assert mixed.dtype == np.float32
    want = F.conv2d(mge.tensor(x.astype("float16").astype("float32")),
                    mge.tensor(w.astype("float32")))
    np.testing.assert_array_equal(mixed.numpy(), want.numpy())


# ----------------------------------------------------------------------------- matmul
@pytest.mark.parametrize(
    ("a", "b", "ta", "tb", "want"),
    [
        ((3,), (3,), False, False, ()),
        ((2, 3), (3, 4), False, False, (2, 4)),
        ((3, 2), (4, 3), True, True, (2, 4)),
        ((3,), (3, 4), False, False, (4,)),
        ((2, 3), (3,), False, False, (2,)),
        ((2, 3, 4), (4, 5), False, False, (2, 3, 5)),
        ((2, 3, 4, 5), (5, 6), False, False, (2, 3, 4, 6)),
        ((4,), (2, 4, 5), False, False, (2, 5)),
        ((2, 3, 4), (4,), False, False, (2, 3)),
        ((5, 6), (2, 3, 6, 7), False, False, (2, 3, 5, 7)),
        ((2, 4, 3), (4, 5), True, False, (2, 3, 5)),
        ((2, 3, 4, 5), (2, 3, 6, 5), False, True, (2, 3, 4, 6)),
    ],
)
def test_matmul_megengine_shapes(a, b, ta, tb, want) -> None:  # noqa: ANN001
    x, y = _rand(*a), _rand(*b, seed=1)
    got = F.matmul(mge.tensor(x), mge.tensor(y), transpose_a=ta, transpose_b=tb)
    xs = np.swapaxes(x, -1, -2) if ta else x
    ys = np.swapaxes(y, -1, -2) if tb else y
    assert got.shape == want
    _close(got, np.matmul(xs, ys))


def test_matmul_errors() -> None:
    a, b = mge.tensor(_rand(2, 3)), mge.tensor(_rand(4, 5))
    with _raises_before_ops(ValueError, r"matmul: inner sizes differ \(3 vs 4\).*\(2, 3\)"):
        F.matmul(a, b)
    with _raises_before_ops(ValueError, r"matmul: batch dims differ"):
        F.matmul(mge.tensor(_rand(1, 3, 4)), mge.tensor(_rand(2, 4, 5)))
    with _raises_before_ops(TypeError, r"matmul: inp1 must be float"):
        F.matmul(mge.tensor(np.ones((2, 2), np.int32)), b)
    with _raises_before_ops(ValueError, r"at least 1-d"):
        F.matmul(mge.tensor(1.0), b)


def test_linear_matches_torch() -> None:
    x, w, b = _rand(2, 3, 4), _rand(5, 4, seed=1), _rand(5, seed=2)
    got = F.linear(mge.tensor(x), mge.tensor(w), mge.tensor(b))
    _close(got, tF.linear(_t(x), _t(w), _t(b)))
    with _raises_before_ops(ValueError, r"linear: input \(2, 3, 4\) does not end with in_"):
        F.linear(mge.tensor(x), mge.tensor(_rand(5, 3)))


# ----------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("padding", [0, 1, (1, 0)])
@pytest.mark.parametrize("stride", [None, 1, (2, 1)])
def test_pooling_matches_torch(stride, padding) -> None:  # noqa: ANN001
    x = _rand(2, 3, 9, 8)
    k = (3, 2)
    s = k if stride is None else stride
    tx = _t(x)
    _close(F.max_pool2d(mge.tensor(x), k, stride, padding), tF.max_pool2d(tx, k, s, padding))
    _close(F.avg_pool2d(mge.tensor(x), k, stride, padding, mode="average"),
           tF.avg_pool2d(tx, k, s, padding, count_include_pad=True))
    _close(F.avg_pool2d(mge.tensor(x), k, stride, padding),
           tF.avg_pool2d(tx, k, s, padding, count_include_pad=False))


def test_avg_pool_megengine_example() -> None:
    x = mge.tensor(np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4))
    got = F.avg_pool2d(x, kernel_size=2, stride=2, padding=[1, 0], mode="average")
    np.testing.assert_allclose(got.numpy()[0, 0], [[0.25, 1.25], [6.5, 8.5]])


def test_pooling_errors() -> None:
    x = mge.tensor(_rand(1, 1, 4, 4))
    with _raises_before_ops(ValueError, r"max_pool2d: padding \(2, 2\) must be smaller"):
        F.max_pool2d(x, 2, padding=2)
    with _raises_before_ops(ValueError, r"avg_pool2d: unknown mode 'max'"):
        F.avg_pool2d(x, 2, mode="max")
    with _raises_before_ops(ValueError, r"max_pool2d: inp must be 4-d"):
        F.max_pool2d(mge.tensor(_rand(4, 4)), 2)
    with _raises_before_ops(ValueError, r"kernel \(5, 5\) is larger than input"):
        F.max_pool2d(x, 5)


def test_adaptive_pooling_divisible_matches_torch() -> None:
    x = _rand(2, 3, 8, 6)
    _close(F.adaptive_avg_pool2d(mge.tensor(x), (4, 3)), tF.adaptive_avg_pool2d(_t(x), (4, 3)))
    _close(F.adaptive_max_pool2d(mge.tensor(x), 2), tF.adaptive_max_pool2d(_t(x), 2))


def test_adaptive_pooling_uses_megengine_windows() -> None:
    # MegEngine 1.13 output for this input: stride = in // out, window = in - (out-1)*stride
    x = mge.tensor(np.arange(200, dtype=np.float32).reshape(2, 1, 10, 10))
    got = F.adaptive_avg_pool2d(x, mge.tensor([4, 3]))
    want = [[16.5, 19.5, 22.5], [36.5, 39.5, 42.5], [56.5, 59.5, 62.5], [76.5, 79.5, 82.5]]
    np.testing.assert_allclose(got.numpy()[0, 0], want)
    with _raises_before_ops(ValueError, r"adaptive_max_pool2d: output size \(11, 1\) exceeds"):
        F.adaptive_max_pool2d(x, (11, 1))


# ----------------------------------------------------------------------------- batch_norm
def _bn_state(c: int) -> tuple[np.ndarray, ...]:
    return (_rand(1, c, 1, 1, seed=1), np.abs(_rand(1, c, 1, 1, seed=2)) + 0.5,
            _rand(1, c, 1, 1, seed=3), _rand(1, c, 1, 1, seed=4))


def test_batch_norm_inference_matches_torch() -> None:
    x = _rand(2, 3, 4, 5)
    mean, var, w, b = _bn_state(3)
    got = F.batch_norm(mge.tensor(x), mge.tensor(mean), mge.tensor(var), mge.tensor(w),
                       mge.tensor(b.reshape(3)), eps=1e-3)
    want = tF.batch_norm(_t(x), _t(mean.ravel()), _t(var.ravel()), _t(w.ravel()),
                         _t(b.ravel()), False, 0.0, 1e-3)
    _close(got, want)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 4, 5)])
def test_batch_norm_training_updates_running_stats(shape) -> None:  # noqa: ANN001
    x = _rand(*shape)
    mean, var, w, b = _bn_state(3)
    rm, rv = mge.tensor(mean), mge.tensor(var)
    got = F.batch_norm(mge.tensor(x), rm, rv, mge.tensor(w), mge.tensor(b), training=True,
                       momentum=0.8)
    tm, tv = _t(mean.ravel().copy()), _t(var.ravel().copy())
    want = tF.batch_norm(_t(x), tm, tv, _t(w.ravel()), _t(b.ravel()), True, 0.2, 1e-5)
    _close(got, want)
    _close(rm, tm.reshape(1, 3, 1, 1).numpy())
    _close(rv, tv.reshape(1, 3, 1, 1).numpy())


def test_batch_norm_training_variants() -> None:
    x = _rand(4, 3, 2, 2)
    mean, var, _, _ = _bn_state(3)
    rm = mge.tensor(mean)
    y, new_mean, new_var = F.batch_norm(mge.tensor(x), rm, None, training=True, inplace=False)
    np.testing.assert_array_equal(rm.numpy(), mean)  # not updated
    assert new_var is None
    _close(new_mean, 0.9 * mean + 0.1 * x.mean(axis=(0, 2, 3), keepdims=True))
    plain = F.batch_norm(mge.tensor(x), training=True)
    _close(plain, tF.batch_norm(_t(x), None, None, training=True))
    _close(y, plain.numpy())


def test_batch_norm_errors() -> None:
    x = mge.tensor(_rand(2, 3, 4, 4))
    with _raises_before_ops(ValueError, r"batch_norm: running_mean and running_var are req"):
        F.batch_norm(x)
    with _raises_before_ops(ValueError, r"batch_norm: weight \(4,\) must be \(3,\)"):
        F.batch_norm(x, training=True, weight=mge.tensor(np.ones(4, np.float32)))
    with _raises_before_ops(ValueError, r"batch_norm: inp must be 2-d or 3-d or 4-d"):
        F.batch_norm(mge.tensor(_rand(3)), training=True)


# ----------------------------------------------------------------------------- softmax & co
@pytest.mark.parametrize(("ndim", "axis"), [(1, 0), (2, 1), (3, 0), (4, 1)])
def test_softmax_default_axis_is_megengines(ndim, axis) -> None:  # noqa: ANN001
    x = _rand(*([3] * ndim))
    _close(F.softmax(mge.tensor(x)), torch.softmax(_t(x), axis))


def test_softmax_explicit_axis_and_errors() -> None:
    x = _rand(2, 5, 3) * 30
    _close(F.softmax(mge.tensor(x), axis=-1), torch.softmax(_t(x), -1))
    want = torch.softmax(_t(x).reshape(2, -1), 1).reshape(2, 5, 3)
    _close(F.softmax(mge.tensor(x), axis=[1, 2]), want)
    with _raises_before_ops(ValueError, r"softmax: axis 3 out of range for input \(2, 5, 3\)"):
        F.softmax(mge.tensor(x), axis=3)
    with _raises_before_ops(TypeError, r"softmax: inp must be float"):
        F.softmax(mge.tensor([1, 2]))


def test_logsoftmax_matches_torch() -> None:
    x = _rand(2, 5) * 50
    _close(F.logsoftmax(mge.tensor(x), axis=1), torch.log_softmax(_t(x), 1))
    _close(F.logsumexp(mge.tensor(x), axis=1), torch.logsumexp(_t(x), 1))


def test_dropout() -> None:
    x = mge.tensor(np.ones((1000,), np.float32))
    assert F.dropout(x, 0.3, training=False) is x
    mge.random.seed(3)
    a = F.dropout(x, 0.25).numpy()
    assert set(np.unique(a)) == {0.0, np.float32(1 / 0.75)}
    assert 0.15 < (a == 0).mean() < 0.35
    mge.random.seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.25).numpy(), a)
    with pytest.raises(ValueError, match=r"dropout: drop_prob must be in \[0, 1\), got 1"):
        F.dropout(x, 1)


@pytest.mark.parametrize(("mode", "np_mode"),
                         [("constant", "constant"), ("reflect", "reflect"),
                          ("replicate", "edge"), ("edge", "edge")])
def test_pad_matches_numpy(mode, np_mode) -> None:  # noqa: ANN001
    x = _rand(2, 3, 4)
    width = ((1, 0), (2, 1))
    got = F.nn.pad(mge.tensor(x), width, mode=mode)
    want = np.pad(x, (*width, (0, 0)), mode=np_mode)
    _close(got, want)
    _close(F.nn.pad(mge.tensor(x), ((0, 1),), constant_value=7.0),
           np.pad(x, ((0, 1), (0, 0), (0, 0)), constant_values=7.0))


def test_pad_errors() -> None:
    x = mge.tensor(_rand(2, 3))
    with _raises_before_ops(ValueError, r"pad: unknown mode 'wrap'"):
        F.nn.pad(x, ((1, 1),), mode="wrap")
    with _raises_before_ops(ValueError, r"pad: pad_width .* at most 2 non-negative"):
        F.nn.pad(x, ((1, 1), (0, 0), (1, 1)))


def test_activations_are_reexported() -> None:
    for name in ("relu", "relu6", "sigmoid", "hsigmoid", "hswish", "silu", "gelu", "softplus",
                 "logsigmoid", "leaky_relu", "prelu"):
        assert getattr(F.nn, name) is getattr(F.elemwise, name)
        assert name in F.nn.__all__
