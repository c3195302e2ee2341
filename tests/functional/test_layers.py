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
    with np.load(FIXTURE) as z:
        return json.loads(str(z["__meta__"]))


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
    with pytest.raises(ValueError, match="hinge_loss: unknown norm"):
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
