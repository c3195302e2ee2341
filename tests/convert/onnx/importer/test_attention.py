"""ONNX ``Attention`` import (:mod:`mge.convert.onnx.importer.attention`) against ONNX's
reference evaluator, on combinations ONNX's backend cases do not reach: grouped heads with a
past cache, causal and window frontiers together, per-batch key padding, fully masked rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mge.convert import UnsupportedOnnxError, from_onnx

from .test_semantics import BACKENDS, _model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

FLOAT, BOOL, INT64 = TensorProto.FLOAT, TensorProto.BOOL, TensorProto.INT64


def _need_opset(opset: int) -> None:
    if onnx.defs.onnx_opset_version() < opset:
        pytest.skip(f"onnx {onnx.__version__} has no opset {opset}")


def _attention_model(feeds: dict[str, np.ndarray], outputs: list[str], opset: int,
                     shapes: list[tuple[int, ...]] | None = None, **attrs: Any) -> Any:
    names = ["Q", "K", "V", "attn_mask", "past_key", "past_value", "nonpad_kv_seqlen"]
    inputs = [n if n in feeds else "" for n in names]
    while inputs and not inputs[-1]:
        inputs.pop()
    node = helper.make_node("Attention", inputs, outputs, **attrs)
    types = {n: (helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
             for n, v in feeds.items()}
    named = [o for o in outputs if o]
    shapes = shapes or [()] * len(named)
    return _model([node], types, {o: (FLOAT, list(s)) for o, s in zip(named, shapes)},
                  opset=opset)


def _random(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}


CASES = [
    # 3-d grouped heads (4 query heads over 2 KV heads), past cache, causal, softcap
    ("gqa_past_causal", _random({"Q": (2, 3, 16), "K": (2, 3, 8), "V": (2, 3, 10),
                                 "past_key": (2, 2, 4, 4), "past_value": (2, 2, 4, 5)}, 0),
     ["Y", "present_key", "present_value", "qk"], 23,
     dict(is_causal=1, q_num_heads=4, kv_num_heads=2, softcap=3.0, qk_matmul_output_mode=1)),
    # a short boolean mask padded to the keys, scale, the biased scores exposed
    ("bool_mask_scale", {**_random({"Q": (1, 2, 4, 6), "K": (1, 2, 5, 6),
                                    "V": (1, 2, 5, 3)}, 1),
                         "attn_mask": np.array([[True, False, True], [False, False, False],
                                                [True, True, True], [False, True, False]])},
     ["Y", "", "", "qk"], 23, dict(scale=0.3, qk_matmul_output_mode=2)),
    # causal and a sliding window over per-batch key padding (external cache)
    ("window_nonpad", {**_random({"Q": (2, 2, 3, 4), "K": (2, 2, 6, 4),
                                  "V": (2, 2, 6, 4)}, 2),
                       "nonpad_kv_seqlen": np.array([5, 2], np.int64)},
     ["Y", "", "", "qk"], 25,
     dict(is_causal=1, left_window_size=1, qk_matmul_output_mode=3)),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "feeds", "outputs", "opset", "attrs"), CASES,
                         ids=[c[0] for c in CASES])
def test_attention_matches_onnx_reference(backend: Any, name: str,
                                          feeds: dict[str, np.ndarray], outputs: list[str],
                                          opset: int, attrs: dict[str, Any]) -> None:
    _need_opset(opset)
    reference = ReferenceEvaluator(_attention_model(feeds, outputs, opset, **attrs))
    want = reference.run(None, feeds)
    model = _attention_model(feeds, outputs, opset, [w.shape for w in want], **attrs)
    if backend.lite and any(v.dtype == np.bool_ for v in feeds.values()):
        pytest.skip("mge.lite tensors hold no bool inputs (as MegEngine Lite's)")
    got = backend.prepare(model).run(list(feeds.values()))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        assert not np.isnan(g).any()


def test_attention_float64_softmax_is_refused() -> None:
    feeds = _random({"Q": (1, 1, 2, 2), "K": (1, 1, 2, 2), "V": (1, 1, 2, 2)}, 3)
    model = _attention_model(feeds, ["Y"], 23, softmax_precision=TensorProto.DOUBLE)
    with pytest.raises(UnsupportedOnnxError, match="softmax_precision is DOUBLE"):
        from_onnx(model, trace=False)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rule", ["linear", "gated", "delta", "gated_delta"])
def test_linear_attention_matches_onnx_reference(backend: Any, rule: str) -> None:
    """Grouped heads (4 query heads over 2), a past state, per-key-dim decay."""
    _need_opset(27)
    rng = np.random.default_rng(4)
    feeds = {"query": rng.standard_normal((2, 3, 12)).astype(np.float32),
             "key": rng.standard_normal((2, 3, 6)).astype(np.float32),
             "value": rng.standard_normal((2, 3, 4)).astype(np.float32),
             "past_state": rng.standard_normal((2, 2, 3, 2)).astype(np.float32)}
    if rule in ("gated", "gated_delta"):
        feeds["decay"] = -rng.uniform(0, 1, (2, 3, 6)).astype(np.float32)
    if rule in ("delta", "gated_delta"):
        feeds["beta"] = rng.uniform(0, 1, (2, 3, 2)).astype(np.float32)
    names = ["query", "key", "value", "past_state", "decay", "beta"]
    inputs = [n if n in feeds else "" for n in names]
    while not inputs[-1]:
        inputs.pop()
    node = helper.make_node("LinearAttention", inputs, ["y", "state"], update_rule=rule,
                            q_num_heads=4, kv_num_heads=2)
    model = _model([node], {n: (FLOAT, list(v.shape)) for n, v in feeds.items()},
                   {"y": (FLOAT, [2, 3, 8]), "state": (FLOAT, [2, 2, 3, 2])}, opset=27)
    want = ReferenceEvaluator(model).run(None, feeds)
    got = backend.prepare(model).run(list(feeds.values()))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_causal_attention_with_symbolic_lengths() -> None:
    """Eager import follows any length; tracing would freeze the causal mask to the
    example length (1, which broadcasts), so it is refused rather than wrong."""
    _need_opset(23)
    dims = ["batch", "heads", "seq", 4]
    node = helper.make_node("Attention", ["Q", "K", "V"], ["Y"], is_causal=1)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, FLOAT, dims) for n in "QKV"],
        [helper.make_tensor_value_info("Y", FLOAT, dims)])
    opsets = [helper.make_opsetid("", 23)]
    model = helper.make_model(graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets))
    net = from_onnx(model, trace=False)
    for seq in (3, 5):
        feeds = _random({"Q": (2, 2, seq, 4), "K": (2, 2, seq, 4), "V": (2, 2, seq, 4)}, seq)
        (want,) = ReferenceEvaluator(model).run(None, feeds)
        np.testing.assert_allclose(net(*feeds.values()).numpy(), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="sequence lengths"):
        from_onnx(model, trace=True)


def test_linear_attention_with_a_symbolic_length_is_refused_when_traced() -> None:
    _need_opset(27)
    node = helper.make_node("LinearAttention", ["q", "k", "v"], ["y", "s"],
                            update_rule="linear", q_num_heads=1, kv_num_heads=1)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, FLOAT, [1, "seq", 2]) for n in "qkv"],
        [helper.make_tensor_value_info("y", FLOAT, [1, "seq", 2]),
         helper.make_tensor_value_info("s", FLOAT, [1, 1, 2, 2])])
    opsets = [helper.make_opsetid("", 27)]
    model = helper.make_model(graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets))
    feeds = _random({"q": (1, 3, 2), "k": (1, 3, 2), "v": (1, 3, 2)}, 6)
    want = ReferenceEvaluator(model).run(None, feeds)
    got = from_onnx(model, trace=False)(*feeds.values())
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="sequence length symbolic"):
        from_onnx(model, trace=True)
