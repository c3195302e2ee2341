"""The built wheel: its files, and ``python -m mge.demo`` from a fresh virtual environment
with only ``pip install "<wheel>[onnx]"`` (no checkout, no ../shared, no torch)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from .demo_output import onnxruntime_logits, top5

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: the wheel is mge's code plus ~2 MB of bundled data; more means something slipped in
MAX_WHEEL_BYTES = 4_000_000
ASSETS = ["mge/assets/NOTICE.md", "mge/assets/LICENSE-Apache-2.0.txt", "mge/assets/cat.png",
          "mge/assets/imagenet_labels_1001.txt", "mge/assets/mobilenet_v1_0.25_128.onnx"]


def _run(*cmd: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                            **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _build_wheel(tmp_path: Path) -> Path:
    """``python -m build --wheel`` of a copy of the checkout (the checkout stays clean)."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "mge", src / "mge",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", src)
    (wheel,) = (tmp_path / "dist").glob("mge-*.whl")
    return wheel


def _check_files(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert set(ASSETS) <= names, sorted(set(ASSETS) - names)
    assert {"mge/demo/__main__.py", "mge/demo/cli.py"} <= names
    tops = {name.split("/")[0] for name in names}
    assert tops == {"mge", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    assert wheel.stat().st_size < MAX_WHEEL_BYTES, wheel.stat().st_size


def test_wheel_runs_the_demo_in_a_fresh_environment(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="python -m build comes with the dev extra")
    wheel = _build_wheel(tmp_path)
    _check_files(wheel)
    # no PYTHONPATH: neither pip nor the demo may see the checkout
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    # the test's own pip (and its cache) installs into the empty environment
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
         f"{wheel}[onnx]", env=env)
    elsewhere, temp = tmp_path / "elsewhere", tmp_path / "tmp"
    elsewhere.mkdir()
    temp.mkdir()
    env["TMPDIR"] = str(temp)
    out = _run(python, "-m", "mge.demo", "--iters", "2", cwd=elsewhere, env=env).stdout
    print(f"wheel {wheel.name}: {wheel.stat().st_size} bytes\n{out}")
    site = _run(python, "-c", "import mge, os; print(os.path.dirname(mge.__file__))",
                cwd=elsewhere, env=env).stdout.strip()
    assert site.startswith(str(venv)), site
    assert f"model  {site}/assets/mobilenet_v1_0.25_128.onnx" in out, out
    assert "eager backends: numpy\n" in out, "the [onnx] install should not bring torch"
    expect = [int(k) for k in np.argsort(-onnxruntime_logits())[:5]]
    got = top5(out)
    assert 282 <= got[0] <= 286 and got[0] == expect[0], out
    assert set(got) == set(expect), out
    assert list(temp.iterdir()) == [], "the demo left files in the temporary folder"
