"""Golden ``.mge`` files written by real MegEngine 1.13 (tests/fixtures/megengine) load and
run in mge like MegEngine ran them, and ``optimize_for_inference`` on the unoptimized
ones gives the op lists MegEngine's optimized dumps have."""

from __future__ import annotations

import json
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mge.graph.passes import optimize_for_inference
from mge.runtime.executor import Executor
from mge.serialization.mge_graph import MgeFormatError, load_graph

FIXTURES = Path(__file__).parents[1] / "fixtures" / "megengine"
ENTRIES = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
PLAIN = sorted(k for k, v in ENTRIES.items() if v["container"] == "plain")
#: float16 files: MegEngine and mge round differently (relative to the output scale)
FP16_TOL = {"convnet_io16xc32": 5e-3, "convnet_ioc16": 1e-2}
#: (unoptimized fixture, optimized fixture made from the same model with its options)
PAIRS = [("convnet_plain", "convnet_opt"), ("convnet_plain", "convnet_fuse_cbn"),
         ("convnet_plain", "convnet_io16xc32"), ("convnet_plain", "convnet_ioc16"),
         ("convnet_plain", "convnet_nchw44"), ("resnet18_w4_plain", "resnet18_w4_fuse")]


def _arrays(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / ENTRIES[name]["npz"]) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", PLAIN)
def test_golden_file_runs_like_megengine(name: str) -> None:
    loaded = load_graph(str(FIXTURES / ENTRIES[name]["file"]))
    loaded.graph.lint()
    arrays = _arrays(name)
    feeds = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("input/")}
    outs = Executor(loaded.graph).run(**feeds)
    expected = [v for k, v in sorted(arrays.items()) if k.startswith("graph/")]
    by_name = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("graph/")}
    assert len(outs) == len(expected)
    for var, out in zip(loaded.output_vars_list, outs, strict=True):
        want = by_name[var.name] if var.name in by_name else expected[0]
        assert out.shape == want.shape and out.dtype == want.dtype
        tol = FP16_TOL.get(name, 1e-4) * max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(out, want, atol=tol, rtol=0, err_msg=name)


def test_clip_bug_file_computes_what_it_says() -> None:
    """MegEngine merged F.clip's two constants into one; the file says MIN(c, MAX(x, c))."""
    arrays = _arrays("clip_bug")
    out = Executor(load_graph(str(FIXTURES / "clip_bug.mge")).graph).run(arrays["input/data"])
    np.testing.assert_array_equal(out[0], arrays["graph/out"])
    assert not np.array_equal(out[0], arrays["eager/out"])


def test_names_metadata_and_params() -> None:
    loaded = load_graph(str(FIXTURES / "convnet_keep_names.mge"))
    names = {n.name for n in loaded.graph.ops()}
    assert {"conv1.Convolution", "conv1.ADD"} <= names
    params = {v.name for v in loaded.graph.params()}
    assert {"conv1.weight", "bn2.running_mean", "bn2.running_var"} <= params
    assert [v.name for v in loaded.graph.inputs] == ["data"]
    assert list(loaded.output_vars_dict) == ["logits"]
    meta = load_graph(str(FIXTURES / "convnet_user_info.mge")).metadata
    assert meta.is_valid and pickle.loads(meta.user_info)["model"] == "convnet"
    assert not load_graph(str(FIXTURES / "convnet_no_metadata.mge")).metadata.is_valid
    for name, entry in ENTRIES.items():
        if entry["container"] == "plain" and entry["metadata"].get("optimize_options"):
            meta = load_graph(str(FIXTURES / entry["file"])).metadata
            assert meta.optimize_options == entry["metadata"]["optimize_options"], name


def test_unnamed_outputs_still_load() -> None:
    loaded = load_graph(str(FIXTURES / "convnet_keep_var_name0.mge"))
    assert [v.shape for v in loaded.output_vars_list] == [(1, 10)]
    assert len(loaded.output_vars_dict) == 1


@pytest.mark.parametrize("name", ["testcase_assert", "testcase_no_assert"])
def test_test_case_containers_are_refused_clearly(name: str) -> None:
    with pytest.raises(MgeFormatError, match=rf"{name}\.mgbtest: format .mgbtest0."):
        load_graph(str(FIXTURES / ENTRIES[name]["file"]))


def _compute_ops(types_and_params: list[tuple[str, dict, str]]) -> Counter:
    """Op kinds that compute on data (shape plumbing on int32 shapes is left out)."""
    counts: Counter = Counter()
    for op_type, params, dtype in types_and_params:
        if op_type in ("Host2DeviceCopy", "ImmutableTensor") or dtype == "int32":
            continue
        if op_type == "Elemwise":
            op_type += "." + params["mode"]
        elif op_type == "ConvBiasForward":
            op_type += "." + params["nonlineMode"]
        counts[op_type] += 1
    return counts


@pytest.mark.parametrize(("plain", "optimized"), PAIRS)
def test_optimize_for_inference_matches_megengine_op_lists(plain: str, optimized: str) -> None:
    graph = load_graph(str(FIXTURES / ENTRIES[plain]["file"])).graph
    options = ENTRIES[optimized]["dump_options"]
    with pytest.warns(UserWarning) if "enable_nchw44" in options else _nothing():
        new, bits = optimize_for_inference(graph, **options)
    assert bits == ENTRIES[optimized]["metadata"]["optimize_options"]
    ours = _compute_ops([(n.type, n.op.params(), str(n.outputs[0].dtype)) for n in new.ops()])
    golden = json.loads((FIXTURES / ENTRIES[optimized]["graph"]).read_text())
    theirs = _compute_ops([(o["type"], o["params"] if isinstance(o["params"], dict) else {},
                            o["outputs"][0]["dtype"]) for o in golden["oprs"]])
    if "enable_nchw44" in options:  # MegEngine re-lays out; mge keeps NCHW (and says so)
        theirs = Counter({k: v for k, v in theirs.items()
                          if k not in ("Dimshuffle", "Reshape")})
    assert ours == theirs


class _nothing:  # noqa: N801 - a null context manager
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
