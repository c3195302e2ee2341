"""``load_and_run``: running and checking test cases (ours and MegEngine's), every option,
the output format, and one-line errors (status 2)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.device import is_cuda_available
from mge.jit import trace
from mge.tools import dump_with_testcase
from mge.tools.load_and_run import LONG_RUN, main
from tests.oracle import FIXTURES

from .conftest import corrupt


def _run(capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def packed(small_model: Path, tmp_path_factory) -> Path:  # noqa: ANN001
    """``small_model`` with two checked test cases."""
    path = tmp_path_factory.mktemp("packed") / "small.mgbtest"
    assert dump_with_testcase.main([str(small_model), "-o", str(path), "-d", "#rand(0,1)",
                                    "-d", "#rand(-1,1)"]) == 0
    return path


def test_runs_and_checks_every_case(packed: Path, capsys) -> None:  # noqa: ANN001
    status, out, err = _run(capsys, packed, "--iter", "3")
    assert status == 0, err
    assert re.search(r"^load model: \d+\.\d{3}ms$", out, re.M)
    for k in (0, 1):
        assert f"run testcase: {k}\n" in out
        assert re.search(rf"=== finished test #{k}: time=[\d.]+ ms avg_time=[\d.]+ ms "
                         r"standard_deviation=[\d.]+ ms min=[\d.]+ ms max=[\d.]+ ms", out)
        assert re.search(rf"testcase #{k} output 'out': max_err=\S+ maxerr=0.0001 OK", out)
    assert len(re.findall(r"^iter \d/3: e2e=[\d.]+ ms \(host=[\d.]+ ms\)$", out, re.M)) == 6
    assert out.count("warm up 0 ") == 1 and "=== total time:" in out


def test_corrupted_expected_value_fails(packed: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.mgbtest"
    corrupt(packed, bad, "out", delta=2.5)
    status, out, err = _run(capsys, bad, "--iter", "1")
    assert status == 1
    assert re.search(r"FAIL testcase #0 output 'out': max error [\d.]+ exceeds maxerr 0.0001 "
                     r"\(at index \(0, 0, 0, 0\): actual \S+, expected \S+\)", out)
    assert "load_and_run: 2 check(s) failed" in err
    status, out, _ = _run(capsys, bad, "--iter", "1", "--disable-assert-throw")
    assert status == 0 and "FAIL testcase #1" in out


@pytest.mark.parametrize("name", ["testcase_assert", "testcase_no_assert"])
def test_megengine_files(name: str, capsys) -> None:  # noqa: ANN001
    status, out, err = _run(capsys, FIXTURES / f"{name}.mgbtest", "--iter", "2")
    assert status == 0, err
    if name == "testcase_assert":
        assert re.search(r"testcase #0 output 'logits': max_err=\S+ maxerr=0.0001 OK", out)
    else:
        assert out.count("no expected values, outputs not checked") == 2


def test_megengine_file_with_a_wrong_expectation(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.mgbtest"
    corrupt(FIXTURES / "testcase_assert.mgbtest", bad, "logits", delta=0.01)
    status, out, _ = _run(capsys, bad, "--iter", "1")
    assert status == 1 and "FAIL testcase #0 output 'logits': max error 0.0095" in out


def test_input_sources(two_input_model: Path, image: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    np.save(tmp_path / "a.npy", np.ones((2, 3), np.float64))
    status, out, err = _run(capsys, two_input_model, "--iter", "1", "--verbose",
                            "--input", f"a:{tmp_path / 'a.npy'};b:[1,2,3]")
    assert status == 0, err
    assert "a: shape={2,3} dtype=float32 range=(1,1)" in out
    assert "b: shape={3} dtype=int32 range=(1,3)" in out
    status, out, _ = _run(capsys, two_input_model, "--iter", "1",
                          "--input", "a:[[1.5,2,3],[4,5,6]]")
    assert status == 0 and "no data for b: using random values in [0, 1)" in out
    status, out, err = _run(capsys, two_input_model, "--iter", "1", "--input", f"a:{image}")
    assert status == 2 and "an image cannot feed an input of shape (2, 3)" in err


def test_input_image_and_unnamed(small_model: Path, image: Path, packed: Path, capsys) -> None:  # noqa: ANN001
    status, _, err = _run(capsys, small_model, "--iter", "1", "--input", str(image))
    assert status == 2 and "does not fit the model's (1, 3, 8, 8)" in err
    status, out, err = _run(capsys, packed, "--iter", "1", "--input", "#rand(0,1)")
    assert status == 2 and "--input 'data': no such file '#rand(0,1)'" in err


def test_input_overrides_test_cases(packed: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 8, 8), np.float32))
    status, out, _ = _run(capsys, packed, "--iter", "1", "--input", str(tmp_path / "x.npy"))
    assert status == 0
    assert "expected values are not checked" in out and "run testcase: 1" not in out


def test_plain_model_runs_on_random_data(small_model: Path, capsys) -> None:  # noqa: ANN001
    status, out, _ = _run(capsys, small_model, "--iter", "2")
    assert status == 0 and "no data for data: using random values" in out


def test_iterations_and_warmup(packed: Path, capsys) -> None:  # noqa: ANN001
    for flag in ("--warmup-iter", "--warmup_iter"):
        status, out, _ = _run(capsys, packed, "--iter", "4", flag, "3")
        assert status == 0
        assert [f"warm up {i} " in out for i in range(4)] == [True] * 3 + [False]
        assert out.count("iter 3/4:") == 2 and "iter 4/4" not in out


def test_long_runs_show_a_progress_bar(packed: Path, capsys) -> None:  # noqa: ANN001
    n = str(LONG_RUN + 5)
    status, out, err = _run(capsys, packed, "--iter", n, "--warmup-iter", "0")
    assert status == 0 and "iter 0/" not in out and f"{n}/{n}" in err
    assert out.count("=== finished test #") == 2
    status, out, _ = _run(capsys, packed, "--iter", n, "--verbose")
    assert f"iter {int(n) - 1}/{n}:" in out  # --verbose prints every run


def test_threads(packed: Path, capsys) -> None:  # noqa: ANN001
    status, out, _ = _run(capsys, packed, "--iter", "2", "--thread", "2")
    assert status == 0
    for k in (0, 1):
        assert f"[thread {k}] === total time:" in out
        assert out.count(f"[thread {k}] testcase #") == 2


def test_profile_backend_device_multithread(packed: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    prof = tmp_path / "prof.json"
    status, out, _ = _run(capsys, packed, "--iter", "2", "--cpu", "--backend", "numpy",
                          "--multithread", "2", "--profile", prof)
    assert status == 0 and f"profile written to {prof}" in out
    report = json.loads(prof.read_text())
    assert (report["backend"], report["device"], report["threads"]) == ("numpy", "cpu0", 2)
    assert {"ConvolutionForward", "ConvBiasForward"} & {o["type"] for o in report["ops"]}
    assert (tmp_path / "prof.txt").exists()


@pytest.mark.skipif(not is_cuda_available(), reason="needs a CUDA device")
def test_cuda(packed: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    prof = tmp_path / "prof.json"
    status, out, err = _run(capsys, packed, "--iter", "2", "--cuda", "--profile", prof)
    assert status == 0, err
    assert json.loads(prof.read_text())["device"] == "gpu0"


def test_cuda_without_a_device(packed: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr("mge.device.is_cuda_available", lambda: False)
    status, _, err = _run(capsys, packed, "--cuda")
    assert status == 2 and "--cuda: no CUDA device is available" in err


def test_model_info(packed: Path, capsys) -> None:  # noqa: ANN001
    status, out, _ = _run(capsys, packed, "--iter", "1", "--model-info")
    assert status == 0 and "Runtime Model Info" in out
    assert re.search(r"INPUT\s+\| data\s+\| \{1,3,8,8\}\s+\| float32", out)
    assert re.search(r"OUTPUT\s+\| out\s+\| \{1,4,8,8\}\s+\| float32", out)
    assert re.search(r"^ops: \d+ \(.*ConvolutionForward 1", out, re.M)
    assert re.search(r"^params: \d+ tensors, \d+ elements", out, re.M)
    size = packed.stat().st_size
    assert f"file: {size} bytes (model " in out and "2 test cases, 1 of 1 outputs checked" in out


def test_io_dump(packed: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    dump = tmp_path / "io"
    status, _, _ = _run(capsys, packed, "--iter", "1", "--warmup-iter", "0", "--io-dump", dump)
    assert status == 0
    files = sorted(p.name for p in dump.iterdir())
    assert any(f.endswith("_data.npy") for f in files) and any("out" in f for f in files)
    assert all(np.load(dump / f).size for f in files)


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--iter", "0"], "--iter must be from 1 to"),
    (["--warmup-iter", "-1"], "--warmup-iter must be from 0 to"),
    (["--thread", "0"], "--thread must be from 1 to 256"),
    (["--backend", "tpu"], "--backend 'tpu' is not available"),
    (["--cpu", "--cuda"], "not allowed with argument"),
    (["--input", "nope:[1]"], "unknown input 'nope'"),
    (["--input", "data:[[1,2],[3]]"], "bad literal '[[1,2],[3]]'"),
    (["--input", "data:[1,2"], "bad literal"),
    (["--input", "data:missing.npy"], "no such file"),
    (["--input", "data:[1,2]"], "shape (2,) does not fit the model's (1, 3, 8, 8)"),
])
def test_errors_are_one_line(args: list[str], message: str, packed: Path, capsys) -> None:  # noqa: ANN001
    status, _, err = _run(capsys, packed, *args)
    assert status == 2 and err.startswith("load_and_run: error:") and err.count("\n") == 1
    assert message in err


def test_bad_files(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "junk.mge").write_bytes(b"mgbtest0\x01\x00\x00\x00trailing")
    for path, message in [(tmp_path / "junk.mge", "announces 1 test cases"),
                          (tmp_path / "none.mge", "No such file or directory")]:
        status, _, err = _run(capsys, path)
        assert status == 2 and message in err and err.count("\n") == 1


def test_case_that_does_not_fit_the_model(packed: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from mge.jit.testcase import load_testcase_model, pack_testcases

    model = load_testcase_model(packed)
    case = model.cases[0]
    wide = np.zeros((1, 5, 8, 8), np.float32)
    (tmp_path / "wide.mgbtest").write_bytes(
        pack_testcases(model.model, [[wide, case["out:expect"]]]))
    status, _, err = _run(capsys, tmp_path / "wide.mgbtest", "--iter", "1")
    assert status == 2 and err.startswith("load_and_run: error: cannot run") and "data" in err


def test_module_and_console_script(packed: Path) -> None:
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["load_and_run"] == "mge.tools.load_and_run:main"
    proc = subprocess.run([sys.executable, "-m", "mge.tools.load_and_run", str(packed),
                           "--iter", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "testcase #1 output 'out'" in proc.stdout


def _resnet18_file(tmp_path: Path, image: Path) -> Path:
    """ResNet-18 (official layout, random weights), packed with a random and an image case."""
    import mge
    from mge.jit import trace
    from mge.models import resnet18

    mge.random.seed(0)
    net = resnet18()
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def pred(data, *, net):
        return net(data)

    pred(mge.tensor(np.zeros((1, 3, 224, 224), np.float32)), net=net)
    plain = tmp_path / "resnet18.mge"
    pred.dump(str(plain), arg_names=["data"], output_names=["logits"])
    packed = tmp_path / "resnet18.mgbtest"
    assert dump_with_testcase.main([
        str(plain), "-o", str(packed), "-d", "#rand(0,1)", "-d", str(image), "--resize-input",
        "--input-transform", "data / 255", "--optimize-for-inference",
        "--enable-fuse-conv-bias-nonlinearity"]) == 0
    return packed


def test_resnet18_with_two_test_cases(image: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    packed = _resnet18_file(tmp_path, image)
    status, out, err = _run(capsys, packed, "--iter", "2")
    assert status == 0, out + err
    assert len(re.findall(r"testcase #\d output 'logits': max_err=\S+ maxerr=0.0001 OK", out)) == 2
    bad = tmp_path / "bad.mgbtest"
    corrupt(packed, bad, "logits", delta=0.5)
    status, out, err = _run(capsys, bad, "--iter", "1")
    assert status == 1 and "load_and_run: 2 check(s) failed" in err
    assert re.search(r"FAIL testcase #1 output 'logits': max error 0\.\d+ exceeds maxerr 0.0001 "
                     r"\(at index \(0, 0\)", out)


def test_help_lists_both_spellings(capsys) -> None:  # noqa: ANN001
    status, out, _ = _run(capsys, "--help")
    assert status == 0
    for option in ("--warmup-iter", "--warmup_iter", "--io-dump", "--model-info", "--profile",
                   "--thread", "--cpu", "--cuda", "--backend", "--verbose", "--input"):
        assert option in out


def test_testcases_of_scalar_inputs_and_outputs(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A 0-d input takes ``#rand`` data of shape (1,) (MegEngine's test_dump_with_testcase),
    and a two-input model with a 0-d output (F.dot) packs cases load_and_run checks."""
    @trace(symbolic=True, capture_as_const=True)
    def scalar(x):  # noqa: ANN001, ANN202
        return F.exp(x)

    scalar(mge.tensor(1.0))
    scalar.dump(str(tmp_path / "scalar.mge"), input_data=["#rand(0, 1, 1)"])

    @trace(symbolic=True, capture_as_const=True)
    def two(x, y):  # noqa: ANN001, ANN202
        return F.dot(x, y), x + y

    two(mge.tensor([1.0, 2.0]), mge.tensor([3.0, 4.0]))
    two.dump(str(tmp_path / "two.mge"), arg_names=["a", "b"],
             input_data=["a:#rand(0,1,2);b:#rand(0,1,2)"])
    for name, outs in (("scalar", ["EXP"]), ("two", ["Reduce", "ADD"])):
        status, out, err = _run(capsys, tmp_path / f"{name}.mge")
        assert status == 0, err
        for o in outs:
            assert re.search(rf"testcase #0 output '{o}': max_err=\S+ maxerr=0.0001 OK", out)
