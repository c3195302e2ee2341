"""The tools under hostile command lines: every case is one line on stderr and status 2.

Found by probing ``load_and_run`` and ``dump_with_testcase`` as a hostile user would:
huge, deeply nested or non-finite literals, ``#rand`` with infinite bounds or huge dims,
data files that are not numbers, spec files that never end, absurd counts, outputs in
folders that do not exist, models mge cannot pack, and Ctrl-C.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from mge.graph.ir import Graph
from mge.ops.elemwise import Elemwise
from mge.serialization.mge_graph import dump_graph
from mge.tools import dump_with_testcase, load_and_run
from mge.tools.cli import INTERRUPTED
from mge.utils import TEMP_SUFFIX


def _one_line_error(capsys, prog: str, status: int) -> str:  # noqa: ANN001
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith(f"{prog}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> Path:  # noqa: ANN001
    folder = tmp_path_factory.mktemp("hostile")
    np.save(folder / "strings.npy", np.full((1, 3, 8, 8), "a"))
    np.save(folder / "complex.npy", np.zeros((1, 3, 8, 8), complex))
    np.save(folder / "huge.npy", np.full((1, 3, 8, 8), 1e300))
    np.save(folder / "batch.npy", np.zeros((1, 3, 8, 8), np.float32))
    (folder / "latin1.txt").write_bytes(b"\xff\xfe#rand(0,1)\n")
    return folder


NESTED = "[" * 5000 + "1" + "]" * 5000


@pytest.mark.parametrize(("literal", "message"), [
    ("[99999999999]", "99999999999 does not fit int32"),
    ("[99999999999999999999999]", "does not fit int32"),
    ("[1e400]", "inf does not fit int32"),
    ("[1.0, 1e400]", "inf does not fit float32"),
    ("[3.5e38]", "does not fit float32"),
    ("[NaN]", "bad literal"),
    ("[true]", "expected nested lists of numbers"),
    ('["a"]', "expected nested lists of numbers"),
    (NESTED, "nested deeper than 7 levels"),
    ("[[[[[[[[1]]]]]]]]", "nested deeper than 7 levels"),
    ("[[1,2],[3]]", "same length at each level"),
])
def test_load_and_run_literals(small_model: Path, literal: str, message: str,
                               capsys) -> None:  # noqa: ANN001
    status = load_and_run.main([str(small_model), "--cpu", "--iter", "1",
                                "--input", f"data:{literal}"])
    assert message in _one_line_error(capsys, "load_and_run", status)


@pytest.mark.parametrize(("spec", "message"), [
    ("#rand(0,1e400)", "must be finite"),
    ("#rand(-1e308,1e308)", "less than 1e308 apart"),
    ("#rand(0,1,99999999,99999999)", "has shape (99999999, 99999999), the model takes"),
    ("#rand(0,1,99999999999999999999999)", "the model takes (1, 3, 8, 8)"),
    ("#rand(0,1,1,...,...)", "dims must be integers"),
    ("@/dev/zero", "not a regular file"),
    ("data:{folder}/strings.npy", "has dtype <U1, not numbers float32 can hold"),
    ("data:{folder}/complex.npy", "has dtype complex128"),
    ("data:{folder}/huge.npy", "outside the range of float32"),
    ("@{folder}/latin1.txt", "not UTF-8 text"),
])
def test_dump_with_testcase_data(small_model: Path, data_files: Path, tmp_path: Path,
                                 spec: str, message: str, capsys) -> None:  # noqa: ANN001
    if spec == "@/dev/zero" and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    status = dump_with_testcase.main([str(small_model), "-o", str(tmp_path / "o.mgbtest"),
                                      "-d", spec.format(folder=data_files)])
    assert message in _one_line_error(capsys, "dump_with_testcase", status)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["strings", "complex", "huge"])
def test_load_and_run_data_files(small_model: Path, data_files: Path, name: str,
                                 capsys) -> None:  # noqa: ANN001
    status = load_and_run.main([str(small_model), "--cpu", "--iter", "1",
                                "--input", f"data:{data_files / name}.npy"])
    _one_line_error(capsys, "load_and_run", status)


@pytest.mark.parametrize(("args", "message"), [
    (["--repeat", "99999999999"], "repeated 99999999999 times needs"),
    (["--maxerr", "nan"], "--maxerr must be a finite number"),
    (["--maxerr", "-1"], "--maxerr must be a finite number"),
])
def test_dump_with_testcase_options(small_model: Path, data_files: Path, tmp_path: Path,
                                    args: list[str], message: str, capsys) -> None:  # noqa: ANN001
    status = dump_with_testcase.main([str(small_model), "-o", str(tmp_path / "o.mgbtest"),
                                      "-d", f"data:{data_files / 'batch.npy'}", *args])
    assert message in _one_line_error(capsys, "dump_with_testcase", status)


@pytest.mark.parametrize(("args", "message"), [
    (["--iter", "99999999999999999999999"], "--iter must be from 1 to"),
    (["--thread", "100000"], "--thread must be from 1 to 256"),
    (["--multithread", "100000"], "--multithread must be from 1 to 256"),
])
def test_load_and_run_counts(small_model: Path, args: list[str], message: str,
                             capsys) -> None:  # noqa: ANN001
    status = load_and_run.main([str(small_model), "--cpu", *args])
    assert message in _one_line_error(capsys, "load_and_run", status)


def test_io_dump_into_a_file(small_model: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    target = tmp_path / "file"
    target.write_bytes(b"")
    status = load_and_run.main([str(small_model), "--cpu", "--iter", "1",
                                "--io-dump", str(target)])
    assert "exists and is not a folder" in _one_line_error(capsys, "load_and_run", status)


def test_output_errors_name_the_output(small_model: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    for out in (tmp_path / "no" / "such" / "o.mgbtest", tmp_path):
        status = dump_with_testcase.main([str(small_model), "-o", str(out),
                                          "-d", "#rand(0,1)"])
        err = _one_line_error(capsys, "dump_with_testcase", status)
        assert repr(str(out)) in err and TEMP_SUFFIX not in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores modes")
def test_read_only_output_folder(small_model: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
    try:
        status = dump_with_testcase.main([str(small_model), "-o", str(folder / "o.mgbtest"),
                                          "-d", "#rand(0,1)"])
    finally:
        os.chmod(folder, stat.S_IRWXU)
    err = _one_line_error(capsys, "dump_with_testcase", status)
    assert "Permission denied" in err and str(folder / "o.mgbtest") in err


def test_model_that_cannot_be_packed(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    g = Graph()
    x = g.add_input("data", (2, 3), "float32")
    (y,) = g.add_op(Elemwise(mode="LOG"), [x])
    g.outputs = [y, y]  # two unnamed outputs: their checks cannot be told apart
    model = tmp_path / "dup.mge"
    model.write_bytes(dump_graph(g)[0])
    status = dump_with_testcase.main([str(model), "-o", str(tmp_path / "o"), "-d",
                                      "#rand(0,1)"])
    assert "cannot pack" in _one_line_error(capsys, "dump_with_testcase", status)


def test_ctrl_c_is_one_line(small_model: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    def interrupt(*_args, **_kwargs) -> None:  # noqa: ANN002, ANN003
        raise KeyboardInterrupt

    monkeypatch.setattr(load_and_run.Job, "run", interrupt)
    assert load_and_run.main([str(small_model), "--cpu"]) == INTERRUPTED
    err = capsys.readouterr().err
    assert err.strip() == "load_and_run: interrupted"
