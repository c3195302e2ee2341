"""``python -m mge.demo`` in-process: the bundled model and photo, options, failures."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mge.assets import CAT_PHOTO
from mge.demo import cli, load_image, main

from .demo_output import onnxruntime_logits, top5

CATS = range(282, 287)   # tabby .. Egyptian cat (1001-class indices)


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temporary folder for everything the demo writes there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_default_classifies_the_bundled_cat_like_onnxruntime(
        temp_dir: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    assert main(["--iters", "2"]) == 0
    out = capsys.readouterr().out
    expect = [int(k) for k in np.argsort(-onnxruntime_logits())[:5]]
    got = top5(out)
    assert got[0] in CATS and got[0] == expect[0], out
    assert set(got) == set(expect), out
    assert "tiger cat" in out and "onnxruntime's top-5: the same classes" in out
    for step in ("mge.convert.from_onnx", "tm.trace_module", "tm.optimize", "load_and_run",
                 "mge.lite", "onnxruntime runs"):
        assert step in out, step
    assert out.count("OK") == 4, out          # 2 test cases x (probs, logits)
    assert "files: removed " in out
    assert list(temp_dir.iterdir()) == [], "the demo left files in the temporary folder"


def test_keep_writes_the_models_and_the_crop(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    keep = tmp_path / "out"
    assert main(["--keep", str(keep), "--iters", "1"]) == 0
    names = sorted(p.name for p in keep.iterdir())
    stem = "mobilenet_v1_0.25_128"
    assert names == [f"{stem}.mge", f"{stem}_input.png", f"{stem}_testcases.mge"]
    crop = np.asarray(Image.open(keep / f"{stem}_input.png"))
    np.testing.assert_array_equal(crop, load_image(CAT_PHOTO, 128))
    assert f"files (kept in {keep})" in capsys.readouterr().out


@pytest.mark.slow
def test_random_resnet18_runs_without_labels(temp_dir: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    assert main(["--model", "resnet18", "--iters", "1"]) == 0
    out = capsys.readouterr().out
    assert "random weights: the classes mean nothing" in out and "onnxruntime runs" not in out
    assert len(top5(out)) == 5 and "class " in out.split("top-5 for")[1]
    assert list(temp_dir.iterdir()) == []


def test_a_disagreement_with_onnxruntime_fails(temp_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    real = cli.road.run_onnxruntime
    monkeypatch.setattr(cli.road, "run_onnxruntime", lambda path, data: real(path, data) + 0.01)
    assert main(["--iters", "1"]) == 1
    assert "DISAGREES" in capsys.readouterr().out
    assert list(temp_dir.iterdir()) == []


def test_a_failed_test_case_fails(temp_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    monkeypatch.setattr(cli.road, "check_with_load_and_run",
                        lambda path: (1, ["testcase #0 output 'probs': max_err=1 FAILED"]))
    assert main(["--iters", "1"]) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "load_and_run failed" in captured.err
    assert list(temp_dir.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["--onnx", "/nonexistent/model.onnx"], "--onnx: no such file: /nonexistent/model.onnx"),
    (["--image", "/nonexistent/cat.jpg"], "--image: no such file: /nonexistent/cat.jpg"),
    (["--iters", "0"], "--iters must be at least 1"),
    (["--model", "resnet18", "--onnx", "x.onnx"], "not allowed with argument"),
    (["--model", "vgg"], "invalid choice: 'vgg'"),
])
def test_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_a_file_that_is_not_an_image(temp_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    assert main(["--image", str(text)]) == 2
    assert f"{str(text)!r} is not an image file Pillow can read" in capsys.readouterr().err
    assert list(temp_dir.iterdir()) == []


def test_without_onnx_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert 'pip install "mge[onnx]"' in capsys.readouterr().err


def test_help_describes_the_road(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for text in ("--keep DIR", "--onnx FILE", "--image FILE", "--model {resnet18}",
                 "load_and_run", "mge.assets"):
        assert text in out, text
