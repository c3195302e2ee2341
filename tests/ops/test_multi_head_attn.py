"""MegEngine's ``MultiHeadAttn`` operator: its dumps of ``M.MultiHeadAttention`` run in
mge.lite and ``GraphInference`` (goldens from real MegEngine Lite), and mge's dumps of the
module run in real MegEngine Lite."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.module as M
from mge.core.opdef import OpError, TensorInfo
from mge.jit import trace
from mge.ops.nn import MultiHeadAttn
from mge.runtime.executor import GraphInference
from mge.runtime.plan import available_plan_backends
from mge.serialization.mge_graph import load_graph

from ..lite.running import lite_outputs
from ..oracle import requires_oracle, run_in_megengine

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "attention"
GOLDEN = np.load(HERE / "mha_dumps.npz")
CASES = {"plain": ["out"], "masks": ["out", "weights"], "kv": ["out"], "train": ["out"]}


def _feeds(case: str) -> dict[str, np.ndarray]:
    return {n: GOLDEN[f"{case}__{n}"] for n in "qkv"}


@pytest.mark.parametrize("backend", available_plan_backends())
@pytest.mark.parametrize("case", list(CASES))
def test_megengine_dump_holds_one_operator_and_runs_in_lite(case: str, backend: str) -> None:
    path = HERE / f"mha_{case}.mge"
    ops = [n.op for n in load_graph(str(path)).graph.ops()]
    assert sum(isinstance(op, MultiHeadAttn) for op in ops) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no plan backend falls back
        got = lite_outputs(path, _feeds(case), backend)
    for name in CASES[case]:
        np.testing.assert_allclose(got[name], GOLDEN[f"{case}__{name}"], rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_megengine_dump_runs_in_graph_inference(case: str) -> None:
    outs = GraphInference(str(HERE / f"mha_{case}.mge")).run(inp_dict=_feeds(case))
    for name in CASES[case]:
        np.testing.assert_allclose(outs[name], GOLDEN[f"{case}__{name}"], rtol=1e-5, atol=2e-6)


def _op(**kw: object) -> MultiHeadAttn:
    base = dict(num_heads=2, embeding_size=4, k_size=4, v_size=4, qproj_size=4, kproj_size=4,
                vproj_size=4, oproj_size=4, training=False)
    return MultiHeadAttn(**{**base, **kw})


F32 = np.dtype("float32")
INFOS = [TensorInfo((1, 3, 4), F32), TensorInfo((1, 5, 4), F32), TensorInfo((1, 5, 4), F32),
         TensorInfo((1, 64), F32)]


@pytest.mark.parametrize("kw, what", [
    (dict(training=True, attn_prob=0.1), "dropout while training"),
    (dict(reslink=True), "reslink"),
    (dict(add_zero_attn=True), "add_zero_attn"),
    (dict(tensor_combination_type="ONLY_BIASKV"), "bias_k"),
    (dict(attn_mask_type="CUDNN_STYLE_MASK"), "cuDNN"),
    (dict(input_order=1), "input_order"),
    (dict(oproj_size=8), "qkvo_weight_bias must hold 80"),
    (dict(tensor_combination_type="ONLY_MASK"), "ONLY_MASK with 4 inputs"),
])
def test_refusals_name_the_op(kw: dict, what: str) -> None:
    with pytest.raises(OpError, match=what):
        _op(**kw).infer(INFOS)


@requires_oracle
@pytest.mark.parametrize("masks", [False, True])
def test_mge_dump_of_the_module_runs_in_megengine_lite(masks: bool, tmp_path: Path) -> None:
    mha = M.MultiHeadAttention(8, 2, attn_dropout=0.0, out_dropout=0.0, bias=True)
    mha.eval()
    feeds = _feeds("masks")
    call = {}
    if masks:
        attn = np.zeros((3, 5), bool)
        attn[1, 2:] = True
        call = {"attn_mask": mge.tensor(attn),
                "key_padding_mask": mge.tensor(np.array([[0, 0, 0, 1, 1], [0] * 5], bool))}

    @trace(symbolic=True, capture_as_const=True)
    def f(q: mge.Tensor, k: mge.Tensor, v: mge.Tensor) -> mge.Tensor:
        return mha(q, k, v, need_weights=False, **call)[0]

    want = f(*(mge.tensor(feeds[n]) for n in "qkv")).numpy()
    buf = io.BytesIO()
    f.dump(buf, arg_names=["q", "k", "v"], output_names=["out"])
    path = tmp_path / "mha.mge"
    path.write_bytes(buf.getvalue())
    got = run_in_megengine(path, feeds)["out"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)
