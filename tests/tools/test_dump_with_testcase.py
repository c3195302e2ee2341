"""``dump_with_testcase``: every option, the -d forms, and one-line errors (status 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

from mge.graph import passes
from mge.jit.testcase import AssertCheck, load_testcase_model
from mge.serialization.fbs import read_model
from mge.tools.dump_with_testcase import main
from tests.oracle import requires_oracle


def _run(capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_two_cases_with_checks(small_model: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    x = np.random.default_rng(0).random((1, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "m.mgbtest"
    status, text, _ = _run(capsys, small_model, "-o", out, "-d", "#rand(0,1)",
                           "--data", f"data:{tmp_path / 'x.npy'}")
    assert status == 0 and f"wrote {out}: 2 test cases" in text
    assert "add testcase 1:" in text and "out:expect: shape=(1, 4, 8, 8)" in text
    model = load_testcase_model(out)
    assert model.checks == [AssertCheck("out", "out:expect", pytest.approx(1e-4), True)]
    np.testing.assert_array_equal(model.cases[1]["data"], x)
    names = [v.name for v in read_model(model.model, "m").vars]
    assert "out" in names  # names are kept (keep_var_name=2)


def test_data_forms(two_input_model: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    np.save(tmp_path / "b.npy", np.array([1, 2, 3], np.int32))
    (tmp_path / "cases.txt").write_text(f"a:#rand(0,1);b:{tmp_path / 'b.npy'}\n"
                                        "a:#rand(0,1,2,...);b:#rand(0,9,3)\n")
    out = tmp_path / "two.mgbtest"
    status, _, _ = _run(capsys, two_input_model, "-o", out, "-d", "#rand(-1,1)",
                        "-d", f"@{tmp_path / 'cases.txt'}")
    assert status == 0
    cases = load_testcase_model(out).cases
    assert len(cases) == 3
    assert sorted(cases[0]) == ["a", "b", "neg:expect", "sum:expect"]
    np.testing.assert_array_equal(cases[1]["b"], [1, 2, 3])
    assert cases[2]["a"].shape == (2, 3) and cases[2]["b"].dtype == np.int32


def test_images_resize_and_transform(small_model: Path, image: Path, tmp_path: Path,
                                     capsys) -> None:  # noqa: ANN001
    out = tmp_path / "img.mgbtest"
    # as MegEngine's tool: data of the input's rank is taken with a warning, and the model
    # runs at the data's shape
    with pytest.warns(UserWarning, match=r"shape \(1, 3, 12, 10\), the model takes"):
        status, _, err = _run(capsys, small_model, "-o", out, "-d", image)
    assert status == 0 and load_testcase_model(out).cases[0]["data"].shape == (1, 3, 12, 10)
    status, _, _ = _run(capsys, small_model, "-o", out, "-d", image, "--resize-input",
                        "--input-transform", "data / 255")
    assert status == 0
    data = load_testcase_model(out).cases[0]["data"]
    assert data.shape == (1, 3, 8, 8) and 0 < data.max() <= 1


def test_repeat(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import mge
    from mge.jit import trace

    @trace(symbolic=True, capture_as_const=True)
    def f(data):
        return data * 3

    f(mge.tensor(np.zeros((3, 2), np.float32)))
    f.dump(str(tmp_path / "b3.mge"), arg_names=["data"])
    np.save(tmp_path / "row.npy", np.array([[1.0, 2.0]], np.float32))
    out = tmp_path / "b3.mgbtest"
    assert _run(capsys, tmp_path / "b3.mge", "-o", out, "-d", tmp_path / "row.npy",
                "--repeat", "3")[0] == 0
    case = load_testcase_model(out).cases[0]
    np.testing.assert_array_equal(case["data"], [[1, 2]] * 3)


def test_repeat_file_data_of_a_batch_one_model_runs_at_the_larger_batch(
        tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """MegEngine's tool takes ``--repeat 2`` with file data for a batch-1 model: the test
    case holds batch 2, its expected outputs are the model's at batch 2, and load_and_run
    runs the file at that batch (mge refused it: "has shape (2, ...), the model takes (1, ...)")."""
    import mge
    import mge.functional as F
    from mge.jit import trace
    from mge.tools.load_and_run import main as load_and_run

    w = mge.tensor(np.random.default_rng(1).random((4, 3, 3, 3)).astype(np.float32))

    @trace(symbolic=True, capture_as_const=True)
    def f(data):
        return F.flatten(F.relu(F.conv2d(data, w)), 1).sum(axis=1)

    f(mge.tensor(np.zeros((1, 3, 6, 6), np.float32)))
    f.dump(str(tmp_path / "b1.mge"), arg_names=["data"])
    img = np.random.default_rng(2).random((1, 3, 6, 6)).astype(np.float32)
    np.save(tmp_path / "img.npy", img)
    out = tmp_path / "b2.mgbtest"
    assert _run(capsys, tmp_path / "b1.mge", "-o", out, "-d", tmp_path / "img.npy",
                "--repeat", "2")[0] == 0
    case = load_testcase_model(out).cases[0]
    expect = f(mge.tensor(img)).numpy()
    assert case["data"].shape == (2, 3, 6, 6)
    np.testing.assert_allclose(case[next(k for k in case if k.endswith(":expect"))],
                               np.concatenate([expect, expect]), rtol=1e-5)
    assert load_and_run([str(out), "--iter", "1"]) == 0
    assert "max_err" in capsys.readouterr()[0]


def test_repeat_refused_where_the_model_cannot_take_the_batch(
        tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import mge
    import mge.functional as F
    from mge.jit import trace

    @trace(symbolic=True, capture_as_const=True, symbolic_shape=False)
    def f(data):
        return F.reshape(data, (2, 3))  # a constant target: batch 1 only

    f(mge.tensor(np.zeros((1, 6), np.float32)))
    f.dump(str(tmp_path / "b1.mge"), arg_names=["data"])
    np.save(tmp_path / "row.npy", np.ones((1, 6), np.float32))
    status, _, err = _run(capsys, tmp_path / "b1.mge", "-o", tmp_path / "x.mgbtest", "-d",
                          tmp_path / "row.npy", "--repeat", "2")
    assert status == 2 and "data" in err and "(2, 6)" in err
    assert not (tmp_path / "x.mgbtest").exists()


def test_silent_maxerr_no_assert(small_model: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "s.mgbtest"
    assert _run(capsys, small_model, "-o", out, "-d", "#rand(0,1)", "--silent",
                "--maxerr", "0.25")[0] == 0
    (check,) = load_testcase_model(out).checks
    assert check.maxerr == 0.25 and not check.verbose
    assert _run(capsys, small_model, "-o", out, "-d", "#rand(0,1)", "--no_assert")[0] == 0
    model = load_testcase_model(out)
    assert model.checks == [None] and list(model.cases[0]) == ["data"]


def test_optimize_for_inference(small_model: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "o.mgbtest"
    assert _run(capsys, small_model, "-o", out, "-d", "#rand(0,1)",
                "--optimize-for-inference", "--enable-fuse-conv-bias-nonlinearity")[0] == 0
    model = load_testcase_model(out)
    assert model.metadata.optimize_options == 68
    assert "ConvBiasForward" in {n.type for n in model.graph.ops()}


@pytest.mark.parametrize("option", passes.OPTION_NAMES)
def test_every_enable_option(option: str, small_model: Path, tmp_path: Path,
                             capsys) -> None:  # noqa: ANN001
    out = tmp_path / "e.mgbtest"
    flag = "--" + option.replace("_", "-")
    status, _, err = _run(capsys, small_model, "-o", out, "-d", "#rand(0,1)", flag)
    assert status == 2 and "need --optimize-for-inference" in err
    status, _, err = _run(capsys, small_model, "-o", out, "-d", "#rand(0,1)",
                          "--optimize-for-inference", flag)
    assert status == 0, err
    bits = load_testcase_model(out).metadata.optimize_options
    assert bits == passes.serialize_options(**{option: True})


def test_discard_var_name(small_model: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "d.mgbtest"
    assert _run(capsys, small_model, "-o", out, "-d", "#rand(0,1)", "--discard-var-name")[0] == 0
    model = load_testcase_model(out)
    assert read_model(model.model, "d").vars is None
    assert [v.name for v in model.graph.outputs] == ["out"]  # from its out:expect input


def test_output_strip_info(small_model: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "st.mgbtest"
    assert _run(capsys, small_model, "-o", out, "-d", "#rand(0,1)",
                "--output-strip-info")[0] == 0
    info = json.loads(Path(f"{out}.json").read_text())
    assert sorted(info) == ["dtypes", "elemwise_modes", "hash", "opr_types"]
    assert info["dtypes"] == ["Float32"]
    assert {"AssertEqual", "ConvolutionForward", "Host2DeviceCopy",
            "SharedDeviceTensor"} <= set(info["opr_types"])
    assert "RELU" in "".join(info["elemwise_modes"])
    model = load_testcase_model(out)
    import hashlib

    assert info["hash"] == int.from_bytes(
        hashlib.blake2b(model.model, digest_size=8).digest(), "little")


def test_rewrites_a_test_case_file(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from tests.oracle import FIXTURES

    out = tmp_path / "re.mgbtest"
    status, text, _ = _run(capsys, FIXTURES / "testcase_assert.mgbtest", "-o", out,
                           "-d", "#rand(0,1)")
    assert status == 0 and "its 1 test cases are replaced" in text
    model = load_testcase_model(out)
    assert sorted(model.cases[0]) == ["data", "logits:expect"]


@pytest.mark.parametrize("args, message", [
    (["-d", "#rand(0,1,2)"], "has shape (2,), the model takes (1, 3, 8, 8)"),
    (["-d", "#rand(x,1)"], "bad random spec"),
    (["-d", "other:#rand(0,1)"], "unknown input 'other'"),
    (["-d", "missing.npy"], "no such file"),
    (["-d", "@missing.txt"], "cannot read spec file"),
    (["-d", "X.NPY", "--input-transform", "data +"], "input_transform 'data +' failed"),
    (["-d", "#rand(0,1)", "--bogus"], "unrecognized arguments: --bogus"),
    ([], "the following arguments are required: -d/--data"),
    (["-d", "#rand(0,1)", "--repeat", "x"], "invalid int value"),
])
def test_errors_are_one_line_and_write_nothing(args: list[str], message: str, small_model: Path,
                                               tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "bad.mgbtest"
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "x.npy", np.zeros((1, 3, 8, 8), np.float32))
    args = [a.replace("X.NPY", str(tmp_path / "in" / "x.npy")) for a in args]
    status, _, err = _run(capsys, small_model, "-o", out, *args)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("dump_with_testcase: error:")
    assert message in err
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # nothing written


def test_bad_model_files(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "junk.mge").write_bytes(b"not a model at all")
    for model, message in [(tmp_path / "junk.mge", "not a MegEngine FBS_V2 model"),
                           (tmp_path / "none.mge", "No such file or directory")]:
        status, _, err = _run(capsys, model, "-o", tmp_path / "o", "-d", "#rand(0,1)")
        assert status == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_module_and_console_script(small_model: Path, tmp_path: Path) -> None:
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["dump_with_testcase"] == "mge.tools.dump_with_testcase:main"
    out = tmp_path / "cli.mgbtest"
    proc = subprocess.run([sys.executable, "-m", "mge.tools.dump_with_testcase", str(small_model),
                           "-o", str(out), "-d", "#rand(0,1)"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert load_testcase_model(out).cases


def test_help_lists_every_option(capsys) -> None:  # noqa: ANN001
    status, out, _ = _run(capsys, "--help")
    assert status == 0
    for name in ("repeat", "silent", "optimize-for-inference", "no-assert", "maxerr",
                 "resize-input", "input-transform", "discard-var-name", "output-strip-info",
                 *(k.replace("_", "-") for k in passes.OPTION_NAMES)):
        assert f"--{name}" in out


@requires_oracle
def test_megengine_runs_the_checks_we_write(small_model: Path, tmp_path: Path,
                                            capsys) -> None:  # noqa: ANN001
    from tests.oracle import OracleError, run_in_megengine

    from .conftest import corrupt

    out = tmp_path / "o.mgbtest"
    assert _run(capsys, small_model, "-o", out, "-d", "#rand(0,1)", "--optimize-for-inference",
                "--enable-fuse-conv-bias-nonlinearity")[0] == 0
    run_in_megengine(out, {})  # MegEngine's AssertEqual checks the embedded case
    corrupt(out, tmp_path / "bad.mgbtest", "out", delta=0.5)
    with pytest.raises(OracleError, match="AssertEqual|Unequal"):
        run_in_megengine(tmp_path / "bad.mgbtest", {})
