"""The conversion command line: a ``.mge`` path is never unpickled, bad inputs and outputs
end in one ``error:`` line with status 2, and ``mge --help`` lists the subcommands."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import mge
from mge.convert import OnnxError, to_onnx
from mge.convert.cli import COMMANDS, main, mge_main

pytest.importorskip("onnx")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "megengine"


class _Payload:
    """Unpickling this creates ``marker``: proof that a pickle was run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


@pytest.fixture
def booby_trapped(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "payload_ran"
    path = tmp_path / "model.mge"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    return path, marker


def _one_line_error(capsys: pytest.CaptureFixture, *words: str) -> None:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "error:" in err and all(w in err for w in words), err


def test_mge_path_is_never_unpickled(booby_trapped: tuple[Path, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    path, marker = booby_trapped
    out = str(tmp_path / "y.onnx")
    assert mge_main(["convert", str(path), "-o", out]) == 2
    _one_line_error(capsys, "is a Python pickle", "--traced-module")
    assert main(["mge_to_onnx", "-i", str(path), "-o", out]) == 2
    _one_line_error(capsys, "is a Python pickle")
    with pytest.raises(OnnxError, match="is a Python pickle"):
        to_onnx(str(path), out)
    assert not marker.exists() and not os.path.exists(out)


def test_traced_module_flag_loads_with_mge_load(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    net = mge.module.Sequential(mge.module.Linear(3, 2))
    x = mge.tensor([[1.0, 2.0, 3.0]])
    net.eval()
    tm = mge.traced_module.trace_module(net, x)
    pickled = tmp_path / "net.tm"
    mge.save(tm, pickled)
    loaded: list[str] = []
    real_load = mge.convert.cli.load

    def spy(path: str) -> object:
        loaded.append(path)
        return real_load(path)

    monkeypatch.setattr(mge.convert.cli, "load", spy)
    out = tmp_path / "net.onnx"
    assert mge_main(["convert", "--traced-module", str(pickled), "-o", str(out)]) == 0
    assert out.stat().st_size > 0 and loaded == [str(pickled)]


def test_bad_inputs_and_outputs_end_in_one_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    garbage, empty = tmp_path / "bad.onnx", tmp_path / "empty.mge"
    garbage.write_bytes(b"not an onnx model")
    empty.write_bytes(b"")
    assert main(["onnx_to_mge", "-i", str(garbage), "-o", str(tmp_path / "x.mge")]) == 2
    _one_line_error(capsys, "bad.onnx", "as an ONNX model")
    assert main(["onnx_to_mge", "-i", str(tmp_path / "missing.onnx"), "-o", "x.mge"]) == 2
    _one_line_error(capsys, "no such file")
    assert main(["mge_to_onnx", "-i", str(empty), "-o", str(tmp_path / "y.onnx")]) == 2
    _one_line_error(capsys, "empty.mge", "as a .mge model")
    assert main(["tracedmodule_to_onnx", "-i", str(empty), "-o", str(tmp_path / "y.onnx")]) == 2
    _one_line_error(capsys, "empty.mge", "mge.load")
    unwritable = tmp_path / "no_such_dir" / "x.mge"
    assert main(["onnx_to_mge", "-i", str(garbage), "-o", str(unwritable)]) == 2
    _one_line_error(capsys, "no_such_dir", "does not exist")
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_mge_help_lists_the_subcommands(capsys: pytest.CaptureFixture) -> None:
    assert mge_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "mge convert INPUT -o OUTPUT" in out and all(c in out for c in COMMANDS)
    assert mge_main([]) == 2 and "no command given" in capsys.readouterr().err
    assert mge_main(["run"]) == 2 and "unknown command 'run'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        mge_main(["convert", "--help"])
    assert info.value.code == 0 and "--traced-module" in capsys.readouterr().out


def test_python_m_entry_point() -> None:
    run = subprocess.run([sys.executable, "-m", "mge.convert", "--help"], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0 and "onnx_to_mge" in run.stdout
