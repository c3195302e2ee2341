"""Test-case containers (mgbtest0): trace.dump(input_data=...), reading MegEngine's files,
the AssertEqual checks, and (with the oracle) MegEngine running and reading ours."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.backends import available_backends
from mge.graph.interpreter import Executor
from mge.graph.ir import Graph
from mge.jit import trace
from mge.jit.input_data import InputDataError
from mge.jit.testcase import (
    TESTCASE_MAGIC,
    AssertCheck,
    TestcaseBuilder,
    case_blob,
    insert_asserts,
    load_testcase_model,
    pack_testcases,
    read_case_blob,
    split_asserts,
)
from mge.ops import Elemwise
from mge.ops.utility import AssertEqual, UnequalError
from mge.serialization.fbs import MgeFormatError
from tests.oracle import FIXTURES, OracleError, requires_oracle, run_in_megengine
from tools.oracle import fbs_peek


def _npz(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def traced():  # noqa: ANN201
    """A conv/BN/relu net traced on (1, 3, 8, 8) inputs, output ``out``."""
    mge.random.seed(3)
    net = M.Sequential(M.Conv2d(3, 4, 3, padding=1), M.BatchNorm2d(4), M.ReLU())
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def f(data, *, net):
        return net(data) * 2

    f(mge.tensor(np.zeros((1, 3, 8, 8), np.float32)), net=net)
    return f, net


def _dump(f, **kwargs) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    f.dump(buf, arg_names=["data"], output_names=["out"], **kwargs)
    return buf.getvalue()


# ------------------------------------------------------------------ MegEngine's files
def test_reads_megengine_asserted_file() -> None:
    model = load_testcase_model(FIXTURES / "testcase_assert.mgbtest")
    want = _npz("testcase_assert")
    assert [v.name for v in model.graph.inputs] == ["data"]
    assert [v.name for v in model.graph.outputs] == ["logits"]
    (check,) = model.checks
    assert check == AssertCheck("logits", "logits:expect", pytest.approx(1e-4), True)
    (case,) = model.cases
    np.testing.assert_array_equal(case["data"], want["testcase0/data"])
    np.testing.assert_array_equal(case["logits:expect"], want["testcase0/logits:expect"])
    (out,) = Executor(model.graph).run(data=case["data"])
    np.testing.assert_allclose(out, case["logits:expect"], rtol=1e-5, atol=1e-5)
    assert not any(node.type == "AssertEqual" for node in model.graph.ops())


def test_reads_megengine_file_with_two_cases() -> None:
    model = load_testcase_model(FIXTURES / "testcase_no_assert.mgbtest")
    want = _npz("testcase_no_assert")
    assert model.checks == [None] and len(model.cases) == 2
    for k, case in enumerate(model.cases):
        assert list(case) == ["data"]
        np.testing.assert_array_equal(case["data"], want[f"testcase{k}/data"])
    (out,) = Executor(model.graph).run(data=model.cases[0]["data"])
    np.testing.assert_allclose(out, want["lite/logits"], rtol=1e-5, atol=1e-5)


def test_case_blobs_match_megengine_structure() -> None:
    raw = (FIXTURES / "testcase_assert.mgbtest").read_bytes()
    theirs = fbs_peek.peek(raw)["testcases"][0]
    values = list(load_testcase_model(io.BytesIO(raw)).cases[0].values())
    ours = fbs_peek.read_model(case_blob(values))
    ours.pop("size"), theirs.pop("size")  # tensor data alignment differs
    assert ours == theirs


def test_plain_model_loads_without_cases() -> None:
    model = load_testcase_model(FIXTURES / "convnet_plain.mge")
    assert model.cases == [] and model.checks == [None]


@pytest.mark.parametrize("cut", [4, 12, 100, -7])
def test_truncated_container_is_rejected(cut: int) -> None:
    raw = (FIXTURES / "testcase_no_assert.mgbtest").read_bytes()
    with pytest.raises(MgeFormatError, match="testcase_no_assert|<file>|file"):
        load_testcase_model(io.BytesIO(raw[:cut]))


def test_case_count_must_match_header() -> None:
    raw = bytearray((FIXTURES / "testcase_no_assert.mgbtest").read_bytes())
    struct.pack_into("<I", raw, 8, 3)
    with pytest.raises(MgeFormatError, match="announces 3 test cases"):
        load_testcase_model(io.BytesIO(bytes(raw)))


def test_case_value_count_must_match_inputs() -> None:
    model = load_testcase_model(FIXTURES / "testcase_assert.mgbtest")
    data = pack_testcases(model.model, [[model.cases[0]["data"]]])
    with pytest.raises(MgeFormatError, match="1 values for the 2 model inputs"):
        load_testcase_model(io.BytesIO(data))


# ------------------------------------------------------------------ asserts
def _small_graph() -> Graph:
    g = Graph()
    x = g.add_input("x", (2, 3), "float32")
    (y,) = g.add_op(Elemwise(mode="RELU"), [x])
    y.name = "y"
    g.outputs = [y]
    return g


def test_insert_and_split_asserts_round_trip() -> None:
    g = insert_asserts(_small_graph(), maxerr=1e-3, verbose=False)
    g.lint()
    assert sorted(v.name for v in g.inputs) == ["x", "y:expect"]
    assert g.outputs[0].name == "assert_eq(y:expect,y)"
    plain, checks = split_asserts(g)
    assert [v.name for v in plain.inputs] == ["x"]
    assert checks == [AssertCheck("y", "y:expect", 1e-3, False)]
    assert [n.type for n in plain.ops()] == ["Host2DeviceCopy", "Elemwise"]


def test_insert_asserts_needs_distinct_output_names() -> None:
    g = _small_graph()
    g.outputs = [g.outputs[0], g.outputs[0]]
    with pytest.raises(ValueError, match="distinct names"):
        insert_asserts(g)


@pytest.mark.parametrize("backend", available_backends())
def test_assert_equal_fails_with_the_worst_element(backend: str, capsys) -> None:  # noqa: ANN001
    g = insert_asserts(_small_graph(), maxerr=1e-4, verbose=True)
    ex = Executor(g, backend)
    x = np.array([[1, -2, 3], [4, 5, -6]], np.float32)
    good = np.maximum(x, 0)
    ex.run(x=x, **{"y:expect": good})
    assert "AssertEqual: err=0" in capsys.readouterr().out
    bad = good.copy()
    bad[1, 1] = 5.5
    with pytest.raises(UnequalError, match=r"max error 0\.1 .*index \(1, 1\): actual 5, "
                                           r"expected 5\.5"):
        ex.run(x=x, **{"y:expect": bad})
    nan = good.copy()
    nan[0, 0] = np.nan
    with pytest.raises(UnequalError, match="nan"):
        ex.run(x=x, **{"y:expect": nan})


def test_assert_equal_infer_checks_shapes() -> None:
    g = Graph()
    a, b = g.add_input("a", (2,), "float32"), g.add_input("b", (3,), "float32")
    with pytest.raises(ValueError, match="same shape and dtype"):
        g.add_op(AssertEqual(), [a, b])


# ------------------------------------------------------------------ trace.dump
def test_dump_with_asserts_and_two_cases(traced, tmp_path: Path) -> None:  # noqa: ANN001
    f, net = traced
    x = np.random.default_rng(0).random((1, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    data = _dump(f, input_data=["#rand(0,1)", f"data:{tmp_path / 'x.npy'}"])
    assert data[:8] == TESTCASE_MAGIC and struct.unpack_from("<I", data, 8) == (2,)
    model = load_testcase_model(io.BytesIO(data))
    assert model.checks == [AssertCheck("out", "out:expect", pytest.approx(1e-4), True)]
    np.testing.assert_array_equal(model.cases[1]["data"], x)
    eager = (net(mge.tensor(x)) * 2).numpy()
    np.testing.assert_allclose(model.cases[1]["out:expect"], eager, rtol=1e-5, atol=1e-6)
    ex = Executor(model.graph)
    for case in model.cases:
        (out,) = ex.run(data=case["data"])
        np.testing.assert_allclose(out, case["out:expect"], rtol=1e-5, atol=1e-5)


def test_dump_options_silent_maxerr_no_assert(traced) -> None:  # noqa: ANN001
    f, _ = traced
    model = load_testcase_model(io.BytesIO(_dump(f, input_data="#rand(0,1)", silent=True,
                                                 maxerr=0.5)))
    assert model.checks[0].maxerr == 0.5 and model.checks[0].verbose is False
    plain = load_testcase_model(io.BytesIO(_dump(f, input_data=["#rand(0,1)"] * 3,
                                                 no_assert=True)))
    assert plain.checks == [None] and [list(c) for c in plain.cases] == [["data"]] * 3


def test_dump_checks_the_optimized_graph_against_the_original(traced) -> None:  # noqa: ANN001
    f, _ = traced
    model = load_testcase_model(io.BytesIO(_dump(
        f, input_data="#rand(0,1)", enable_fuse_conv_bias_nonlinearity=True)))
    assert "ConvBiasForward" in {n.type for n in model.graph.ops()}
    assert model.metadata.optimize_options == 68
    (out,) = Executor(model.graph).run(data=model.cases[0]["data"])
    np.testing.assert_allclose(out, model.cases[0]["out:expect"], rtol=1e-5, atol=1e-5)


def test_dump_reads_spec_files_images_and_transforms(traced, tmp_path: Path) -> None:  # noqa: ANN001
    from PIL import Image

    f, _ = traced
    img = (np.random.default_rng(1).random((12, 10, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "im.png")
    (tmp_path / "cases.txt").write_text(f"data:{tmp_path / 'im.png'}\n\n#rand(0,1,1,...)\n")
    model = load_testcase_model(io.BytesIO(_dump(
        f, input_data=[f"@{tmp_path / 'cases.txt'}"], resize_input=True,
        input_transform="data / 255")))
    image_case, rand_case = model.cases
    assert image_case["data"].shape == (1, 3, 8, 8) and image_case["data"].max() <= 1
    assert rand_case["data"].shape == (1, 3, 8, 8)


def test_dump_repeat_fills_the_batch(tmp_path: Path) -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(data):
        return F.relu(data)

    f(mge.tensor(np.zeros((4, 3), np.float32)))
    np.save(tmp_path / "row.npy", np.arange(3, dtype=np.float32)[None])
    buf = io.BytesIO()
    f.dump(buf, arg_names=["data"], input_data=str(tmp_path / "row.npy"), repeat=4)
    case = load_testcase_model(io.BytesIO(buf.getvalue())).cases[0]
    np.testing.assert_array_equal(case["data"], np.tile(np.arange(3, dtype=np.float32), (4, 1)))


@pytest.mark.parametrize("spec, message", [
    ("#rand(0)", "bad random spec"),
    ("#rand(0,1,2,2)", r"shape \(2, 2\), the model takes \(1, 3, 8, 8\)"),
    ("nope:#rand(0,1)", "unknown input 'nope'"),
    ("/no/such/file.npy", "no such file"),
])
def test_dump_rejects_bad_input_data(traced, spec: str, message: str) -> None:  # noqa: ANN001
    f, _ = traced
    with pytest.raises(InputDataError, match=message):
        _dump(f, input_data=[spec])


def test_builder_needs_a_case() -> None:
    with pytest.raises(InputDataError, match="no test case"):
        TestcaseBuilder(_small_graph(), [])


def test_read_case_blob_rejects_computed_values() -> None:
    data = (FIXTURES / "convnet_plain.mge").read_bytes()
    with pytest.raises(MgeFormatError, match="only constant tensors"):
        read_case_blob(data, "model")


# ------------------------------------------------------------------ the oracle
def _ours(traced, tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:  # noqa: ANN001
    f, _ = traced
    path = tmp_path / "ours.mgbtest"
    path.write_bytes(_dump(f, input_data=["#rand(0,1)", "#rand(-1,1)"]))
    return path, load_testcase_model(path).cases[1]


@requires_oracle
def test_megengine_runs_our_checks(traced, tmp_path: Path) -> None:  # noqa: ANN001
    path, case = _ours(traced, tmp_path)
    run_in_megengine(path, {}, runner="graph")  # the file's first case
    (out,) = run_in_megengine(path, case).values()  # the second one, in Lite
    np.testing.assert_allclose(out, case["out:expect"], rtol=1e-5, atol=1e-5)
    bad = dict(case, **{"out:expect": case["out:expect"] + 1})
    with pytest.raises(OracleError, match="AssertEqual|Unequal"):
        run_in_megengine(path, bad)


@requires_oracle
def test_megengine_reads_our_case_blobs(traced, tmp_path: Path) -> None:  # noqa: ANN001
    import subprocess

    from tests.oracle import RUN_MGE_FILE, oracle_python

    path, _ = _ours(traced, tmp_path)
    out = tmp_path / "cases.npz"
    subprocess.run([oracle_python(), str(RUN_MGE_FILE), str(path), "--runner", "none",
                    "--testcases", str(out)], check=True, capture_output=True, timeout=300)
    model = load_testcase_model(path)
    with np.load(out) as theirs:
        assert sorted(theirs.files) == [f"case{k}/{n}" for k in range(2)
                                        for n in ("data", "out:expect")]
        for k, case in enumerate(model.cases):
            for name, value in case.items():
                np.testing.assert_array_equal(theirs[f"case{k}/{name}"], value)
