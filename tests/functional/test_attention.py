"""``F.nn.multi_head_attention`` and ``M.MultiHeadAttention``: MegEngine 1.13's outputs
(golden file), PyTorch's ``nn.MultiheadAttention`` with the weights mapped, refusals, the
parameter layout, and a traced + dumped model run by mge.lite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.jit import trace
from mge.lite import LiteConfig, LiteNetwork
from mge.runtime.plan import available_plan_backends

FIXTURE = Path(__file__).parent.parent / "fixtures" / "attention" / "oracle.npz"


def _cases(fn: str) -> list[dict]:
    with np.load(FIXTURE) as z:
        return [c for c in json.loads(str(z["__meta__"])) if c["fn"] == fn]


def _arrays(cid: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as z:
        return {k.split("__", 1)[1]: z[k] for k in z.files if k.startswith(cid + "__")}


def _check(outs: tuple, got: dict[str, np.ndarray]) -> None:
    for k, out in enumerate(outs):
        if f"out{k}" not in got:
            assert out is None
            continue
        np.testing.assert_allclose(out.numpy(), got[f"out{k}"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", _cases("mha"), ids=lambda c: c["id"])
def test_functional_matches_megengine(case: dict) -> None:
    got = _arrays(case["id"])
    t = {k: mge.tensor(got[k]) for k in case["tensors"]}
    outs = F.nn.multi_head_attention(t.pop("query"), t.pop("key"), t.pop("value"), **t,
                                     **case["kwargs"])
    _check(outs, got)


@pytest.mark.parametrize("case", _cases("M.MultiHeadAttention"), ids=lambda c: c["id"])
def test_module_matches_megengine(case: dict) -> None:
    got = _arrays(case["id"])
    m = M.MultiHeadAttention(*case["args"], **case["kwargs"])
    state = {k[len("state__"):]: v for k, v in got.items() if k.startswith("state__")}
    # MegEngine's state dict: the same names and shapes
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == {
        k: v.shape for k, v in state.items()}
    m.load_state_dict(state)
    m.eval()
    outs = m(*[mge.tensor(got[k]) for k in case["tensors"]], **case["call"])
    _check(outs, got)


def _torch_pair(e: int, h: int, seed: int = 0):  # noqa: ANN202 - (torch module, mge module)
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    ref = torch.nn.MultiheadAttention(e, h, batch_first=True).eval()
    w = ref.in_proj_weight.detach().numpy()
    b = ref.in_proj_bias.detach().numpy()
    packed = np.concatenate([w[:e].T.ravel(), w[e:2 * e].T.ravel(), w[2 * e:].T.ravel(),
                             ref.out_proj.weight.detach().numpy().T.ravel(), b,
                             ref.out_proj.bias.detach().numpy()])
    m = M.MultiHeadAttention(e, h)
    m.load_state_dict({"io_weight_bias": packed[None].astype(np.float32)})
    m.eval()
    return torch, ref, m


@pytest.mark.parametrize("mask", ["none", "bool", "float", "padding", "both", "causal"])
def test_matches_torch(mask: str) -> None:
    torch, ref, m = _torch_pair(8, 2)
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((2, 3, 8), np.float32), rng.standard_normal((2, 5, 8), np.float32)
    attn = rng.uniform(size=(3, 5)) < 0.3 if mask in ("bool", "both") else None
    if mask == "float":
        attn = rng.standard_normal((3, 5)).astype(np.float32)
    if mask == "causal":
        attn = np.triu(np.ones((3, 5), bool), 1)
    padding = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 1]], bool) if mask in (
        "padding", "both") else None
    as_t = (lambda a: None if a is None else torch.from_numpy(a))  # noqa: E731
    want, want_w = ref(as_t(q), as_t(k), as_t(k), key_padding_mask=as_t(padding),
                       attn_mask=as_t(attn), average_attn_weights=True)
    as_m = (lambda a: None if a is None else mge.tensor(a))  # noqa: E731
    kwargs = {"is_causal": True} if mask == "causal" else {"attn_mask": as_m(attn)}
    out, wts = m(as_m(q), as_m(k), as_m(k), key_padding_mask=as_m(padding),
                 need_weights=True, average_attn_weights=True, **kwargs)
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wts.numpy(), want_w.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_unbatched_matches_torch() -> None:
    torch, ref, m = _torch_pair(6, 3, seed=2)
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
    want, want_w = ref(*[torch.from_numpy(x)] * 3, average_attn_weights=False)
    out, wts = m(*[mge.tensor(x)] * 3, need_weights=True)
    assert out.shape == (4, 6) and wts.shape == (3, 4, 4)
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wts.numpy(), want_w.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_module_parameters_as_megengine() -> None:
    m = M.MultiHeadAttention(8, 2, kdim=6, vdim=4)
    n_weights = (8 + 6 + 4 + 8) * 8
    assert list(m.state_dict()) == ["io_weight_bias"]
    values = m.io_weight_bias.numpy()
    assert values.shape == (1, n_weights + 32)
    assert not values[0, n_weights:].any()
    bound = np.sqrt(6.0 / (values.shape[1] + 1))  # Glorot over the (1, n) row
    assert np.abs(values).max() <= bound
    assert np.abs(values[0, :n_weights]).max() > bound / 2
    assert M.MultiHeadAttention(8, 2, bias=False).io_weight_bias.shape == (1, 4 * 8 * 8)
    assert m.attn_dropout == 0.0 and m.bias_k is None


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"add_zero_attn": True}, AssertionError, "add_zero_attn"),
    ({"reslink": True}, AssertionError, "reslink"),
    ({"attn_mask": np.zeros((4, 4), np.float32)}, AssertionError, "attn_mask"),
    ({"attn_mask": np.zeros((3, 5), np.int32)}, AssertionError, "bool and floating"),
    ({"key_padding_mask": np.zeros((2, 4), bool)}, AssertionError, "key_padding_mask"),
    ({"attn_mask": np.zeros((2, 3), np.int32), "key_padding_mask": np.zeros((2, 2), np.int32),
      "maybe_cudnn_style_mask": True}, NotImplementedError, "cuDNN"),
])
def test_refusals(kwargs: dict, error: type, words: str) -> None:
    q, k = mge.tensor(np.ones((2, 3, 8), np.float32)), mge.tensor(np.ones((2, 5, 8), np.float32))
    w = mge.tensor(np.zeros((1, 4 * 64 + 32), np.float32))
    kwargs = {n: mge.tensor(v) if isinstance(v, np.ndarray) else v for n, v in kwargs.items()}
    with pytest.raises(error, match=words):
        F.nn.multi_head_attention(q, k, k, 8, 2, 0.0, 0.0, w, qbias=True, kbias=True,
                                  vbias=True, obias=True, **kwargs)
    with pytest.raises(ValueError, match="io_weight_bias holds 255"):
        F.nn.multi_head_attention(q, k, k, 8, 2, 0.0, 0.0, mge.tensor(np.zeros((1, 255))))
    with pytest.raises(AssertionError, match="add_bias_kv"):
        M.MultiHeadAttention(8, 2, add_bias_kv=True)


def test_dropout_only_when_training() -> None:
    q = mge.tensor(np.random.default_rng(3).standard_normal((1, 6, 4)).astype(np.float32))
    w = mge.tensor(np.random.default_rng(4).standard_normal((1, 64)).astype(np.float32))
    args = (q, q, q, 4, 1, 0.5, 0.0, w)
    eval_out = F.nn.multi_head_attention(*args, need_weights=True, training=False)[1]
    mge.random.seed(5)
    train_out = F.nn.multi_head_attention(*args, need_weights=True, training=True)[1]
    kept = train_out.numpy() != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(train_out.numpy()[kept], 2 * eval_out.numpy()[kept], rtol=1e-6)


@pytest.mark.parametrize("backend", [b for b in available_plan_backends()
                                     if b in ("numpy", "torch", "onnxruntime")])
def test_traced_dump_runs_in_lite(tmp_path: Path, backend: str) -> None:
    mge.random.seed(0)
    m = M.MultiHeadAttention(8, 2)
    m.eval()
    mask = mge.tensor(np.triu(np.ones((4, 4), bool), 1))

    @trace(symbolic=True, capture_as_const=True)
    def fwd(x):  # noqa: ANN001, ANN202
        return m(x, x, x, attn_mask=mask)[0]

    x = np.random.default_rng(6).standard_normal((2, 4, 8)).astype(np.float32)
    want = fwd(mge.tensor(x)).numpy()
    np.testing.assert_allclose(want, m(mge.tensor(x), mge.tensor(x), mge.tensor(x),
                                       is_causal=True)[0].numpy(), rtol=1e-6, atol=1e-7)
    path = tmp_path / "mha.mge"
    fwd.dump(str(path), arg_names=["x"])
    cfg = LiteConfig()
    cfg.plan_backend = backend
    net = LiteNetwork(cfg)
    net.load(str(path))
    net.get_io_tensor("x").set_data_by_copy(x)
    net.forward()
    net.wait()
    got = net.get_io_tensor(net.get_all_output_name()[0]).to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
