"""FBS (v1) ``.mge`` files written by real MegEngine 1.13 (tests/fixtures/fbs_v1) read like
their FBS_V2 twins, load and run in ``load_graph`` and ``mge.lite`` like MegEngine ran them,
and survive a v1 and a v2 rewrite."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import mge.lite as L
from mge.runtime.executor import Executor
from mge.serialization.fbs import (
    ModelFile,
    Operator,
    detect_format,
    oprs_v1,
    read_model,
    read_model_v1,
    write_model,
)
from mge.serialization.fbs.oprs_v1 import output_count
from mge.serialization.mge_graph import graph_from_bytes, load_graph

from .conftest import mge_files

FIXTURES = Path(__file__).parents[2] / "fixtures" / "fbs_v1"
#: (name, path) of every v1 golden: the op-family models and the mini zoo in nets/
GOLDENS = sorted(
    (e["name"], FIXTURES / sub / f"{e['name']}.mge")
    for sub in ("", "nets")
    for e in json.loads((FIXTURES / sub / "manifest.json").read_text())
)
#: float16 models: MegEngine's traced float32 outputs differ by float16 rounding
FP16_TOL = {"resnet18_io16xc32": 5e-3}


def _read(path: Path) -> ModelFile:
    return read_model(path.read_bytes(), str(path))


def _feeds_and_outputs(path: Path) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    with np.load(path.with_suffix(".npz")) as z:
        feeds = {k[3:]: z[k] for k in z.files if k.startswith("in:")}
        outs = [z[f"out:{i}"] for i in range(sum(k.startswith("out:") for k in z.files))]
    return feeds, outs


def _assert_close(name: str, got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want), name
    for k, (out, ref) in enumerate(zip(got, want, strict=True)):
        assert out.shape == ref.shape and out.dtype == ref.dtype, (name, k)
        tol = FP16_TOL.get(name, 1e-5) * max(1.0, float(np.abs(ref).max(initial=0)))
        np.testing.assert_allclose(out, ref, atol=tol, rtol=0, err_msg=f"{name} output {k}")


def _without_format(op: Operator) -> Operator:
    """``op`` with tensor formats dropped (v1 stores none, FBS_V2 writes DEFAULT)."""
    return dataclasses.replace(
        op, tensors=[dataclasses.replace(t, format=None) for t in op.tensors])


@pytest.mark.parametrize(("name", "path"), GOLDENS, ids=[n for n, _ in GOLDENS])
def test_v1_golden_runs_like_megengine(name: str, path: Path) -> None:
    assert detect_format(path.read_bytes()) == "FBS"
    loaded = load_graph(str(path))
    loaded.graph.lint()
    feeds, want = _feeds_and_outputs(path)
    _assert_close(name, Executor(loaded.graph).run(**feeds), want)


@pytest.mark.parametrize(("name", "path"), GOLDENS, ids=[n for n, _ in GOLDENS])
def test_v1_golden_runs_in_lite(name: str, path: Path) -> None:
    net = L.LiteNetwork(L.LiteConfig())
    net.load(str(path))
    feeds, want = _feeds_and_outputs(path)
    for key, value in feeds.items():
        net.get_io_tensor(key).set_data_by_copy(value)
    net.forward()
    net.wait()
    got = [net.get_io_tensor(n).to_numpy() for n in net.get_all_output_name()]
    _assert_close(name, got, want)


@pytest.mark.parametrize("name", ["convnet", "convnet_noopt", "convnet_fuse", "convnet_names",
                                  "shapes", "multi", "quantized", "bn_training"])
def test_v1_reads_like_its_fbs_v2_twin(name: str) -> None:
    v1, v2 = _read(FIXTURES / f"{name}.mge"), _read(FIXTURES / f"{name}.v2.mge")
    assert [_without_format(op) for op in v1.operators] == [
        _without_format(op) for op in v2.operators]
    assert v1.outputs == v2.outputs and v1.metadata == v2.metadata
    assert v1.mge_version == v2.mge_version == 101300
    if name in ("convnet_names", "shapes", "bn_training"):  # keep_var_name=2: all names
        assert [v.name for v in v1.vars] == [v.name for v in v2.vars]


def test_v1_details() -> None:
    named = _read(FIXTURES / "convnet_names.mge")
    assert any(op.name for op in named.operators) and any(op.priority for op in named.operators)
    assert all(v.name for v in named.vars)
    default = _read(FIXTURES / "convnet.mge")  # keep_var_name=1: only the output is named
    assert [v.name for v in default.vars if v.name] == ["Softmax"]
    assert default.resolved_outputs() == [(default.outputs[0].var_id, "Softmax")]
    assert _read(FIXTURES / "nets" / "shufflenetv2_nonames.mge").vars is None
    shared = _read(FIXTURES / "nets" / "shared.mge")
    assert shared.nr_shared_tensor == 1
    assert "SharedDeviceTensor" in {op.type for op in shared.operators}
    holder = _read(FIXTURES / "nets" / "shared_holder.mge")
    assert holder.nr_shared_tensor == 1
    q = _read(FIXTURES / "quantized.mge")
    dtypes = {t.dtype.name for op in q.operators for t in op.tensors if t.dtype is not None}
    assert "QuantizedS8" in dtypes
    noopt = {op.type for op in _read(FIXTURES / "convnet_noopt.mge").operators}
    assert {"BatchNormV1", "Convolution"} <= noopt
    # training mode with running stats: MegEngine keeps all 6 outputs (4 in inference)
    (bn,) = [op for op in _read(FIXTURES / "bn_training.mge").operators
             if op.type == "BatchNormV1"]
    assert len(bn.outputs) == 6 and bn.param("BN")["fwd_mode"] == "TRAINING"


@pytest.mark.parametrize(("name", "path"), GOLDENS, ids=[n for n, _ in GOLDENS])
def test_v1_rewrites(name: str, path: Path) -> None:
    """v1 -> v1 reads back the same; v1 -> FBS_V2 (a converter) runs the same."""
    model = _read(path)
    again = read_model(write_model(model, "FBS"), "rewritten")
    assert again == model
    v2 = write_model(model)
    assert detect_format(v2) == "FBS_V2"
    feeds, want = _feeds_and_outputs(path)
    _assert_close(name, Executor(graph_from_bytes(v2, "v2").graph).run(**feeds), want)


def test_output_counts_agree_with_megengine_v2_files() -> None:
    """The v1 output-count rules give what MegEngine lists in every FBS_V2 file here."""
    checked = 0
    for path in mge_files():
        data = path.read_bytes()
        if detect_format(data) != "FBS_V2":
            continue
        for op in read_model(data, str(path)).operators:
            count = output_count(op)
            if count is not None:
                assert count == len(op.outputs), (path.name, op.type)
                checked += 1
    assert checked > 1000


def test_old_magic_with_unversioned_ids() -> None:
    """``MGBS`` files (16-byte header) store unversioned type ids."""
    data = (FIXTURES / "convnet.mge").read_bytes()
    model = read_model_v1(data, "convnet.mge")
    body = data[24:]
    for op in model.operators:
        v1 = oprs_v1.v1_type_for(op.type, op.version)
        old = oprs_v1.persistent_id(v1).to_bytes(8, "little")
        body = body.replace(old, v1.type_id.to_bytes(8, "little"))
    mgbs = b"MGBS" + b"\x00" * 4 + data[16:24] + body
    assert detect_format(mgbs) == "FBS"
    assert read_model(mgbs, "old.mge") == model
