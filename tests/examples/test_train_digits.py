"""The training walk-through: train on scikit-learn's digits, plot, dump, run in mge.lite."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("sklearn", reason="the train extra (scikit-learn) is absent")

from examples import train_digits  # noqa: E402


@pytest.mark.slow
def test_one_epoch_learns_and_lite_agrees(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out, plot = tmp_path / "digits.mge", tmp_path / "digits.png"
    accuracy = train_digits.main(["--epochs", "1", "--out", str(out), "--plot", str(plot)])
    assert accuracy > 0.8
    assert out.stat().st_size > 0 and Image.open(plot).size == (480, 320)
    printed = capsys.readouterr().out
    assert "test accuracy (mge.lite" in printed
    lite_vs_eager = float(printed.rsplit("= ", 1)[1])
    assert lite_vs_eager < 1e-4
