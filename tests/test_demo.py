"""The README's main command: ``python -m mge.demo`` (and its real-image mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mge.demo import main

SHARED = Path(__file__).resolve().parents[2] / "shared"


def test_demo_default_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--out", str(tmp_path), "--iters", "2"]) == 0
    out = capsys.readouterr().out
    assert "load_and_run checks the test cases" in out and "max |lite - eager|" in out
    assert "testcase #1 output 'output_0'" in out and "OK" in out
    assert (tmp_path / "resnet18.mge").stat().st_size > 40_000_000


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (real models, images) not present")
def test_demo_classifies_a_real_cat(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    onnx = SHARED / "models" / "mobilenet_v1_0.25_128.onnx"
    image = SHARED / "images" / "cat.bmp"
    assert main(["--onnx", str(onnx), "--image", str(image), "--out", str(tmp_path),
                 "--iters", "2"]) == 0
    out = capsys.readouterr().out
    first = out.split("top-5:")[1].split()[0]
    assert 282 <= int(first) <= 286, out


def test_demo_rejects_bad_arguments(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--image", "cat.bmp"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["--onnx", "/nonexistent/model.onnx"])
    assert "no such file: /nonexistent/model.onnx" in capsys.readouterr().err
