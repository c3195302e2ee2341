"""mge.random: seeded RNG objects, the distributions' moments and shapes, MegEngine's
RNG ops under ``core.ops.builtin`` and the rng handles of ``core._imperative_rt.ops``."""

import numpy as np
import pytest

import mge
import mge.functional as F
from mge import random
from mge.core._imperative_rt.core2 import apply
from mge.core._imperative_rt.ops import (
    delete_rng_handle,
    get_global_rng_seed,
    get_rng_handle_compnode,
    new_rng_handle,
)
from mge.core.ops.builtin import (
    BetaRNG,
    GammaRNG,
    GaussianRNG,
    PermutationRNG,
    PoissonRNG,
    ShuffleRNG,
    UniformRNG,
)
from mge.random import RNG

N = (200, 200)


def test_same_seed_same_values_every_method():
    for method, args in [("uniform", ()), ("normal", ()), ("gamma", (2,)), ("beta", (2, 1)),
                         ("poisson", (3.0,))]:
        a, b, c = RNG(seed=7), RNG(seed=7), RNG(seed=8)
        x = getattr(a, method)(*args, size=(50,)).numpy()
        np.testing.assert_array_equal(x, getattr(b, method)(*args, size=(50,)).numpy())
        assert not (x == getattr(c, method)(*args, size=(50,)).numpy()).all()
        assert not (x == getattr(a, method)(*args, size=(50,)).numpy()).all(), method


def test_global_seed_restarts_sequence():
    random.seed(3)
    assert get_global_rng_seed() == 3
    a = random.normal(size=(10,)).numpy()
    random.seed(3)
    np.testing.assert_array_equal(a, random.normal(size=(10,)).numpy())


@pytest.mark.parametrize(("draw", "mean", "std"), [
    (lambda r: r.uniform(-2, 4, N), 1.0, 6 / np.sqrt(12)),
    (lambda r: r.normal(-1, 2, N), -1.0, 2.0),
    (lambda r: r.gamma(2, 0.8, N), 1.6, np.sqrt(2) * 0.8),
    (lambda r: r.beta(2, 0.8, N), 2 / 2.8, np.sqrt(2 * 0.8 / (2.8 ** 2 * 3.8))),
    (lambda r: r.poisson(2.0, N), 2.0, np.sqrt(2.0)),
])
def test_moments(draw, mean, std):
    out = draw(RNG(seed=11))
    assert out.shape == N and out.dtype == np.float32
    x = out.numpy()
    assert abs(x.mean() - mean) < 0.02 * max(1.0, std)
    assert abs(x.std() - std) < 0.02 * max(1.0, std)


def test_tensor_parameters_broadcast_after_size():
    shape = mge.tensor([[2, 3, 4], [9, 10, 11]], dtype="float32")
    scale = mge.tensor([0.5, 1, 1.5], dtype="float32")
    out = RNG(seed=1).gamma(shape, scale, size=(300, 40))
    assert out.shape == (300, 40, 2, 3)
    expected = (shape * scale).numpy()
    np.testing.assert_allclose(out.numpy().mean(axis=(0, 1)), expected, rtol=0.05)
    assert RNG(seed=1).poisson(mge.tensor([1.0, 5.0]), size=4).shape == (4, 2)


def test_permutation_and_shuffle():
    rng = RNG(seed=5)
    p = rng.permutation(1000)
    assert p.dtype == np.int32
    np.testing.assert_array_equal(np.sort(p.numpy()), np.arange(1000))
    assert rng.permutation(10, dtype="float32").dtype == np.float32
    x = mge.tensor(np.arange(18, dtype="float32").reshape(6, 3))
    rng.shuffle(x)
    assert x.shape == (6, 3)
    rows = x.numpy()
    np.testing.assert_array_equal(np.sort(rows[:, 0]), np.arange(0, 18, 3))
    np.testing.assert_array_equal(rows[:, 1] - rows[:, 0], np.ones(6))
    assert rng.permutation(mge.tensor(7)).shape == (1,)


def test_shuffle_gradient_flows_back():
    from mge.core.autodiff.grad import Grad

    got = []
    x = mge.tensor(np.arange(6, dtype="float32"))
    with Grad() as grad:
        grad.wrt(x, callback=got.append)
        out, index = apply(ShuffleRNG(seed=1), x)
        grad(out, mge.tensor(np.arange(6, dtype="float32")))
    np.testing.assert_array_equal(out.numpy(), x.numpy()[index.numpy()])
    np.testing.assert_array_equal(got[0].numpy()[index.numpy()], np.arange(6))


@pytest.mark.parametrize("shape", [(0,), (0, 0, 0), (10, 0, 10)])
def test_empty_sizes(shape):
    for out in (random.uniform(0, 1, shape), random.normal(0, 1, shape),
                random.gamma(2, 1, shape), random.beta(2, 1, shape), random.poisson(2, shape)):
        assert out.shape == shape
    assert random.permutation(0).shape == (0,)


def test_builtin_ops_with_handle():
    size = mge.tensor([40, 50], dtype="int32")
    h = new_rng_handle("cpu0", 9)
    assert get_rng_handle_compnode(h) == "cpu0"
    (a,) = apply(GaussianRNG(seed=9, mean=3.0, std=1.0, handle=h), size)
    assert a.device == "cpu0" and a.shape == (40, 50)
    delete_rng_handle(h)
    with pytest.raises(ValueError, match="unknown rng handle"):
        apply(UniformRNG(seed=9, handle=h), size)
    h2 = new_rng_handle("cpu0", 9)
    (b,) = apply(GaussianRNG(seed=9, mean=3.0, std=1.0, handle=h2), size)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    delete_rng_handle(h2)
    ones = F.full([30, 30], 2.0)
    for op, inputs in [(GammaRNG(seed=1), (ones, ones)), (BetaRNG(seed=1), (ones, ones)),
                       (PoissonRNG(seed=1), (ones,))]:
        (out,) = apply(op, *inputs)
        assert out.shape == (30, 30) and out.dtype == np.float32
    (perm,) = apply(PermutationRNG(seed=1, dtype="int16"), mge.tensor([5], dtype="int32"))
    assert perm.dtype == np.int16 and sorted(perm.numpy().tolist()) == list(range(5))


def test_bad_input_errors():
    with pytest.raises(ValueError, match="low >= high"):
        random.uniform(1, 1)
    with pytest.raises(ValueError, match="Gamma is not defined when shape <= 0"):
        random.gamma(0)
    with pytest.raises(ValueError, match="n >= 0"):
        random.permutation(-1)
    with pytest.raises(ValueError, match="do not broadcast"):
        random.beta(mge.tensor([1.0, 2.0]), mge.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match="float type"):
        apply(UniformRNG(dtype="int32"), mge.tensor([2], dtype="int32"))
    with pytest.raises(TypeError, match="takes 2 input"):
        apply(GammaRNG(), mge.tensor([1.0]))
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        RNG(seed=-1)


@pytest.mark.parametrize("symbolic", [False, True])
def test_jit_trace_draws_fresh_values_with_static_shapes(symbolic):
    random.seed(1)
    fn = mge.jit.trace(symbolic=symbolic)(lambda: random.normal(size=(4,)))
    outs = [fn().numpy() for _ in range(3)]
    assert all(o.shape == (4,) for o in outs)
    assert not (outs[1] == outs[2]).all()
