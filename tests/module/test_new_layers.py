"""Modules of issue 13: Conv1d, ConvTranspose2d and its fused forms, SyncBatchNorm,
Embedding, PixelShuffle (MegEngine 1.13 shapes, init and numerics against the F forms);
RNNs and normalizations against MegEngine 1.13's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M

FIXTURE = Path(__file__).parent.parent / "fixtures" / "layers" / "oracle.npz"


def _module_cases() -> list[dict]:
    with np.load(FIXTURE) as z:
        return [c for c in json.loads(str(z["__meta__"])) if c["fn"].startswith("M.")]


def _flatten(value: object) -> list:
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]


@pytest.mark.usefixtures("each_backend")
@pytest.mark.parametrize("case", _module_cases(), ids=lambda c: c["id"])
def test_modules_match_megengine(case: dict) -> None:
    """Recurrent and normalization modules: same weights and inputs as MegEngine 1.13
    (``tests/fixtures/layers``), same outputs."""
    prefix = case["id"] + "__"
    with np.load(FIXTURE) as z:
        stored = {k[len(prefix):]: z[k] for k in z.files if k.startswith(prefix)}
    module = getattr(M, case["fn"][2:])(*case["args"], **case["kwargs"])
    module.load_state_dict({k[len("state__"):]: v for k, v in stored.items()
                            if k.startswith("state__")})
    inputs = [mge.tensor(stored[f"in{k}"]) for k in range(sum(k.startswith("in") for k in stored))]
    outs = _flatten(module(inputs[0], tuple(inputs[1:])) if case["pair"] else module(*inputs))
    assert len(outs) == sum(k.startswith("out") for k in stored)
    for k, out in enumerate(outs):
        np.testing.assert_allclose(out.numpy(), stored[f"out{k}"], rtol=1e-5, atol=1e-5,
                                   err_msg=f"{case['id']} output {k}")


def _rand(*shape: int, seed: int = 0) -> mge.Tensor:
    return mge.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def test_conv1d_module() -> None:
    conv = M.Conv1d(2, 4, 3, stride=2, padding=1, dilation=1)
    assert conv.weight.shape == (4, 2, 3) and conv.bias.shape == (1, 4, 1)
    assert M.Conv1d(4, 6, 3, groups=2).weight.shape == (2, 3, 2, 3)
    x = _rand(2, 2, 9)
    want = F.conv1d(x, conv.weight, conv.bias, 2, 1)
    np.testing.assert_allclose(conv(x).numpy(), want.numpy(), rtol=1e-6)
    reflect = M.Conv1d(2, 4, 3, padding=1, padding_mode="reflect", bias=False)
    padded = F.nn.pad(x, ((0, 0), (0, 0), (1, 1)), mode="reflect")
    np.testing.assert_allclose(reflect(x).numpy(), F.conv1d(padded, reflect.weight).numpy(),
                               rtol=1e-6)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 2, L\)"):
        conv(_rand(2, 3, 9))
    with pytest.raises(ValueError, match="Conv1d: stride must be an int >= 1"):
        M.Conv1d(2, 4, 3, stride=0)


def test_conv_transpose2d_family() -> None:
    mge.random.seed(3)
    m = M.ConvTranspose2d(16, 33, (3, 5), output_padding=(1, 2), stride=(2, 3), padding=(4, 2))
    assert m.weight.shape == (16, 33, 3, 5) and m.bias.shape == (1, 33, 1, 1)
    # MegEngine's init: N(0, 1 / (kh * kw * out_channels))
    assert abs(float(m.weight.numpy().std()) - (1 / (15 * 33)) ** 0.5) < 0.01
    assert m(_rand(2, 16, 10, 20)).shape == (2, 33, 14, 60)
    x = _rand(1, 4, 5, 5)
    relu = M.ConvTransposeRelu2d(4, 2, 3, stride=2)
    want = F.relu(F.conv_transpose2d(x, relu.weight, relu.bias, stride=2))
    np.testing.assert_allclose(relu(x).numpy(), want.numpy(), rtol=1e-6)
    fused = M.ConvTransposeBnRelu2d(4, 2, 3, stride=2)
    fused.eval()
    inner = fused.conv_transpose2d(x)
    np.testing.assert_allclose(fused(x).numpy(), F.relu(fused.bn(inner)).numpy(), rtol=1e-6)
    bn = M.ConvTransposeBn2d(4, 2, 3, groups=2)
    assert bn.conv_transpose2d.weight.shape == (2, 2, 1, 3, 3)


def test_sync_batch_norm_is_batch_norm_in_one_process() -> None:
    x = _rand(3, 8, 4)
    sync, plain = M.SyncBatchNorm(8, momentum=0.9), M.BatchNorm1d(8, momentum=0.9)
    np.testing.assert_allclose(sync(x).numpy(), plain(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(sync.running_var.numpy(), plain.running_var.numpy(), rtol=1e-6)
    assert M.SyncBatchNorm(8)(_rand(2, 8, 3, 3)).shape == (2, 8, 3, 3)
    with pytest.raises(ValueError, match="expected 2D or 3D or 4D input"):
        M.SyncBatchNorm(8)(_rand(2, 8, 3, 3, 3))


def test_embedding_and_pixel_shuffle() -> None:
    emb = M.Embedding(10, 4)
    idx = mge.tensor([[1, 2], [9, 0]])
    np.testing.assert_array_equal(emb(idx).numpy(), emb.weight.numpy()[idx.numpy()])
    table = mge.tensor(np.arange(6, dtype=np.float32).reshape(3, 2))
    frozen = M.Embedding.from_pretrained(table)
    assert frozen.freeze and frozen(mge.tensor([2])).numpy().tolist() == [[4.0, 5.0]]
    with pytest.raises(ValueError, match="weight shape should match"):
        M.Embedding(4, 2, initial_weight=table)
    with pytest.raises(ValueError, match="expected to be 2-dimensional"):
        M.Embedding.from_pretrained(mge.tensor([1.0]))
    x = _rand(1, 8, 3, 3)
    np.testing.assert_array_equal(M.PixelShuffle(2)(x).numpy(), F.pixel_shuffle(x, 2).numpy())
