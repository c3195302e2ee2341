"""Bad ``.mge`` files: every problem is an ``MgeFormatError`` naming the file and what is
wrong; no other exception, no hang, no huge allocation; loading never runs code."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mge.graph import Graph
from mge.ops import Elemwise
from mge.ops.shape import Broadcast
from mge.serialization.fbs import read_model, write_model
from mge.serialization.mge_graph import MgeFormatError, dump_graph, graph_from_bytes, load_graph

FIXTURES = Path(__file__).parents[1] / "fixtures" / "megengine"
ENTRIES = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
SAMPLES = ["convnet_plain", "convnet_fuse_cbn", "convnet_nchw44", "preprocess",
           "shufflenetv2_small"]


def _ours() -> bytes:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (y,) = g.add_op(Elemwise(mode="ADD"), [x, g.add_const(np.ones(3, np.float32))])
    g.outputs = [y]
    return dump_graph(g)[0]


REAL = {name: (FIXTURES / ENTRIES[name]["file"]).read_bytes() for name in SAMPLES}
REAL["ours"] = _ours()


def _load(data: bytes, name: str = "bad.mge") -> None:
    graph_from_bytes(data, name).graph.lint()


@pytest.mark.parametrize("cut", [0, 3, 4, 11, 40, 0.5, -1])
def test_truncated(cut: float) -> None:
    data = REAL["convnet_plain"]
    n = int(len(data) * cut) if isinstance(cut, float) else cut % len(data)
    with pytest.raises(MgeFormatError, match=r"^bad\.mge: .*(truncated|identifier|empty)"):
        _load(data[:n])


def test_wrong_identifier() -> None:
    data = bytearray(REAL["convnet_plain"])
    data[8:12] = b"mgv1"
    with pytest.raises(MgeFormatError, match=r"^bad\.mge: not a MegEngine FBS_V2 model"):
        _load(bytes(data))


def test_not_a_model_at_all(tmp_path: Path) -> None:
    path = tmp_path / "weights.pkl"
    path.write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    with pytest.raises(MgeFormatError, match=rf"^{path}: not a MegEngine FBS_V2 model"):
        load_graph(str(path))


def _rewrite(data: bytes, edit) -> bytes:  # noqa: ANN001
    model = read_model(data, "m")
    edit(model)
    return write_model(model)


def test_operator_type_mge_does_not_implement() -> None:
    def edit(model) -> None:  # noqa: ANN001
        k = next(i for i, op in enumerate(model.operators) if op.type == "Elemwise")
        model.operators[k] = dataclasses.replace(model.operators[k], type="Dot",
                                                 params=[], type_id=None, version=None)

    with pytest.raises(MgeFormatError, match=r"^bad\.mge: operator #\d+ \(Dot\): "
                                             r"operator type 'Dot' is not supported"):
        _load(_rewrite(REAL["ours"], edit))


@pytest.mark.parametrize("shape", [(1 << 30, 1 << 30), (2,) * 8])
def test_absurd_input_shapes(shape: tuple[int, ...]) -> None:
    def edit(model) -> None:  # noqa: ANN001
        h2d = next(op for op in model.operators if op.type == "Host2DeviceCopy")
        h2d.tensors[0] = dataclasses.replace(h2d.tensors[0], shape=shape)

    with pytest.raises((MgeFormatError, ValueError), match=r"absurd|dims|exceed"):
        _load(_rewrite(REAL["ours"], edit))


def _broadcast_file() -> bytes:
    g = Graph()
    x = g.add_input("x", (1, 3), "float32")
    (y,) = g.add_op(Broadcast(shape=(2, 3)), [x])
    g.outputs = [y]
    return dump_graph(g)[0]


@pytest.mark.parametrize(("target", "problem"), [
    ((1 << 20, 1 << 20, 3), "exceeds the load memory budget"), ((4, 5), "cannot broadcast")])
def test_bad_static_shape_inputs(target: tuple[int, ...], problem: str) -> None:
    def edit(model) -> None:  # noqa: ANN001
        const = next(op for op in model.operators if op.type == "ImmutableTensor")
        value = np.array(target, np.int32)
        const.tensors[0] = dataclasses.replace(const.tensors[0], data=value, shape=value.shape)
        model.vars = None  # the recorded shapes would be inconsistent too

    where = r"^bad\.mge: operator #\d+ \(Broadcast\): "
    with pytest.raises(MgeFormatError, match=where + ".*" + problem):
        _load(_rewrite(_broadcast_file(), edit))


def test_inconsistent_shapes_are_caught() -> None:
    def edit(model) -> None:  # noqa: ANN001
        model.vars[-1] = dataclasses.replace(model.vars[-1], shape=(7, 7))

    with pytest.raises(MgeFormatError, match=r"the file says output \d+ has shape \(7, 7\)"):
        _load(_rewrite(REAL["ours"], edit))


def test_loading_never_runs_code(tmp_path: Path) -> None:
    """A pickle in user_info (MegEngine puts one there) stays bytes: nothing unpickles it."""
    marker = tmp_path / "ran"
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."

    def edit(model) -> None:  # noqa: ANN001
        model.metadata = dataclasses.replace(model.metadata, user_info=payload)

    loaded = load_graph(io.BytesIO(_rewrite(REAL["convnet_plain"], edit)))
    assert loaded.metadata.user_info == payload and not marker.exists()


@st.composite
def _mutations(draw) -> tuple[str, bytes]:  # noqa: ANN001
    name = draw(st.sampled_from(sorted(REAL)))
    data = bytearray(REAL[name])
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "byte", "cut", "splice"]))
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos:pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        if not data:
            data = bytearray(b"\0")
    return name, bytes(data)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(_mutations())
def test_mutated_real_files_load_or_fail_cleanly(sample: tuple[str, bytes]) -> None:
    name, data = sample
    try:
        _load(data, f"{name}.mge")
    except MgeFormatError as exc:
        assert str(exc).startswith(f"{name}.mge: ") and exc.problem
