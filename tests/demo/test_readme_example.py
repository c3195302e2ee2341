"""README's first example (the road in code, on the bundled model and photo) runs as written."""

from __future__ import annotations

import ast
import contextlib
import io
import os
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _first_python_block(section: str) -> str:
    text = README.read_text(encoding="utf-8").split(f"## {section}\n", 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_road_in_code_prints_the_cat_classes(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnx", reason="the example imports an ONNX model (onnx extra)")
    code = _first_python_block("The road, in code")
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), {})  # noqa: S102 - the README's own code
    shown = ast.literal_eval(printed.getvalue().strip())
    expected = ast.literal_eval(code.rstrip().splitlines()[-1].lstrip("# "))
    assert [name for name, _ in shown] == [name for name, _ in expected]
    assert [p for _, p in shown] == pytest.approx([p for _, p in expected], abs=2e-3)
    assert os.listdir(tmp_path) == ["mobilenet.mge"]
