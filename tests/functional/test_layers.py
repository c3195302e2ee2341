"""F functions of issue 13 (conv1d, pixel_shuffle, losses, lookups, topk_accuracy,
logaddexp): outputs equal MegEngine 1.13's on every backend (``tests/fixtures/layers``),
plus MegEngine's argument rules and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F

FIXTURE = Path(__file__).parent.parent / "fixtures" / "layers" / "oracle.npz"


def _oracle_cases() -> list[dict]:
    """The F cases of the fixture (its module cases run in tests/module)."""
    with np.load(FIXTURE) as z:
        return [c for c in json.loads(str(z["__meta__"])) if not c["fn"].startswith("M.")]


def _resolve(dotted: str):  # noqa: ANN202 - an F function
    fn = F
    for part in dotted.split("."):
        fn = getattr(fn, part)
    return fn


@pytest.mark.usefixtures("each_backend")
@pytest.mark.parametrize("case", _oracle_cases(), ids=lambda c: c["id"])
def test_matches_megengine(case: dict) -> None:
    with np.load(FIXTURE) as z:
        got = {k.split("__")[1]: z[k] for k in z.files if k.startswith(case["id"] + "__")}
    inputs = [mge.tensor(got[f"in{k}"]) for k in range(sum(k.startswith("in") for k in got))]
    outs = _resolve(case["fn"])(*inputs, **case["kwargs"])
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    for k, out in enumerate(outs):
        want = got[f"out{k}"]
        assert out.shape == want.shape and out.dtype == want.dtype, case["id"]
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=case["id"])


def test_pixel_shuffle_matches_the_definition() -> None:
    x = np.arange(2 * 18 * 2 * 3).reshape(2, 18, 2, 3).astype(np.float32)
    r = 3
    want = x.reshape(2, 2, r, r, 2, 3).transpose(0, 1, 4, 2, 5, 3).reshape(2, 2, 6, 9)
    np.testing.assert_array_equal(F.pixel_shuffle(mge.tensor(x), r).numpy(), want)
    with pytest.raises(ValueError, match=r"pixel_shuffle: input \(1, 8, 2, 2\)"):
        F.pixel_shuffle(mge.tensor(np.zeros((1, 8, 2, 2), np.float32)), 3)


def test_conv1d_errors() -> None:
    x = mge.tensor(np.ones((1, 2, 5), np.float32))
    w = mge.tensor(np.ones((3, 2, 2), np.float32))
    with pytest.raises(ValueError, match="conv1d: inp must be 3-d"):
        F.conv1d(mge.tensor(np.ones((1, 2, 5, 5), np.float32)), w)
    with pytest.raises(ValueError, match="conv1d: bias must be 3-d"):
        F.conv1d(x, w, mge.tensor(np.ones(3, np.float32)))
    with pytest.raises(TypeError, match="conv1d: stride must be an int"):
        F.conv1d(x, w, stride=(1, 1))


def test_loss_reduction_is_case_sensitive() -> None:
    pred, label = mge.tensor([[1.0, 2.0]]), mge.tensor([1])
    for bad in ("MEAN", "max"):
        with pytest.raises(ValueError, match=f"{bad} is not a valid value for reduction"):
            F.nn.cross_entropy(pred, label, reduction=bad)
    with pytest.raises(ValueError, match="target ndim must be one less than input ndim"):
        F.nn.cross_entropy(pred, mge.tensor([[1]]))
    with pytest.raises(AssertionError, match="norm must be L1 or L2"):  # MegEngine asserts
        F.nn.hinge_loss(pred, pred, norm="L3")


def test_lookup_errors() -> None:
    table = mge.tensor(np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match="embedding: inp must hold integers"):
        F.embedding(mge.tensor([0.5]), table)
    with pytest.raises(ValueError, match="Not support padding_idx"):
        F.embedding(mge.tensor([0]), table, padding_idx=0)
    with pytest.raises(ValueError, match=r"indexing_one_hot: index \(3,\) must be src"):
        F.nn.indexing_one_hot(table, mge.tensor([0, 1, 2]))


def test_megengine_argument_rules() -> None:
    np.testing.assert_array_equal(F.eye((3,)).numpy(), np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(F.eye(mge.tensor([2, 4])).numpy(), np.eye(2, 4))
    x = F.ones((2, 1, 3))
    with pytest.raises(RuntimeError, match="broadcast_to: cannot broadcast"):
        F.broadcast_to(x, (2, 3, 4))
    with pytest.raises(AssertionError, match="sum: repeated axis"):
        F.sum(x, axis=(-1, 2))
    with pytest.raises(ValueError, match=r"^Invalid nsplits_or_secions: \[3, 2, 5\]$"):
        F.split(F.ones((2, 3, 4, 5)), [3, 2, 5], axis=3)
    assert isinstance(x, mge.tensor) and mge.tensor is mge.Tensor


def test_config_compute_mode_reaches_the_convolutions(recorded_ops: list) -> None:
    x = mge.tensor(np.ones((1, 1, 3, 3), np.float16))
    w = mge.tensor(np.ones((1, 1, 1, 1), np.float16))
    with mge.config._override(compute_mode="float32", deterministic_kernel=True):
        assert mge.config.deterministic_kernel
        F.conv2d(x, w)
    F.conv2d(x, w)
    assert [op.compute_mode for op in recorded_ops] == ["FLOAT32", "DEFAULT"]
    assert mge.config._compute_mode == "default" and not mge.config.deterministic_kernel
    with pytest.raises(ValueError, match="async_level should be 0, 1 or 2"):
        with mge.config._override(async_level=3):
            pass


def test_megengine_conveniences() -> None:
    """k past the row, 0-d concat, Tensor repeat counts and tuple index entries."""
    values, index = F.topk(mge.tensor([3.0, 1.0, 2.0]), 5)
    assert values.numpy().tolist() == [3.0, 2.0, 1.0] and index.numpy().tolist() == [0, 2, 1]
    assert F.concat([mge.tensor(1.0), mge.tensor([2.0, 3.0])]).numpy().tolist() == [1, 2, 3]
    assert F.repeat(mge.tensor([1, 2]), mge.tensor(2)).numpy().tolist() == [1, 1, 2, 2]
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    np.testing.assert_array_equal(mge.tensor(x)[(0, 4, 2), :].numpy(), x[[0, 4, 2], :])


def test_norm_argument_errors() -> None:
    x = mge.tensor(np.ones((2, 4, 3, 3), np.float32))
    with pytest.raises(AssertionError, match="weight must be provided if affine is True"):
        F.nn.layer_norm(x, 3, True)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(4,\) must be"):
        F.nn.layer_norm(x, 4, False)
    with pytest.raises(mge.core.opdef.OpError, match="do not split into 3 groups"):
        F.nn.group_norm(x, 3, False)
    with pytest.raises(mge.core.opdef.OpError, match="data must be 4-d"):
        F.nn.instance_norm(mge.tensor(np.ones((2, 4, 3), np.float32)), False)


@pytest.mark.usefixtures("each_backend")
def test_cumsum_and_diag_match_numpy() -> None:
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    got = F.cumsum(mge.tensor(x), -1)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got.numpy(), np.cumsum(x, -1))
    m = np.random.default_rng(0).random((6, 9)).astype(np.float32)
    for k in range(-2, 3):
        np.testing.assert_array_equal(F.diag(mge.tensor(m), k).numpy(), np.diag(m, k))
        np.testing.assert_array_equal(F.diag(mge.tensor(m[0]), k).numpy(), np.diag(m[0], k))
    with pytest.raises(ValueError, match="diag: input must be 1-d or 2-d"):
        F.diag(mge.tensor(np.ones((2, 2, 2), np.float32)))
