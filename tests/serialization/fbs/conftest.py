"""Fixtures for the FBS_V2 codec tests: golden files and the real-MegEngine oracle."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
GOLDEN = HERE / "golden"
SHARED_FIXTURES = REPO / "tests" / "fixtures" / "megengine"


def mge_files() -> list[Path]:
    """Real MegEngine-written models: our golden files plus the shared fixtures."""
    found = sorted(GOLDEN.glob("*.mge"))
    if SHARED_FIXTURES.is_dir():
        found += sorted(SHARED_FIXTURES.rglob("*.mge"))
    return found


def _oracle_python() -> str | None:
    path = os.environ.get("MGE_ORACLE_PYTHON") or str(REPO / ".oracle" / "bin" / "python")
    return path if os.path.exists(path) else None


@pytest.fixture(scope="session")
def oracle_python() -> str:
    """Interpreter with real MegEngine 1.13; skips the test when there is none."""
    path = _oracle_python()
    if path is None:
        pytest.skip(
            "real MegEngine oracle not available "
            "(no .oracle venv; MGE_ORACLE_PYTHON names no interpreter)"
        )
    return path


def run_oracle(python: str, *args: str, timeout: float = 600) -> str:
    """Run a script under the oracle interpreter; returns stdout, fails the test on error."""
    proc = subprocess.run(
        [python, *args], capture_output=True, text=True, timeout=timeout, cwd=HERE
    )
    if proc.returncode:
        pytest.fail(f"oracle run {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def run_models(python: str, jobs: list[dict], workdir: Path) -> list[dict]:
    """Run each ``{"model", "inputs", "outputs"}`` job in MegEngine; returns the reports."""
    job_file = workdir / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    out = run_oracle(python, str(HERE / "oracle_run_model.py"), str(job_file))
    prefix = "ORACLE-RESULT "
    return [json.loads(line[len(prefix) :]) for line in out.splitlines() if line.startswith(prefix)]


@pytest.fixture(scope="session")
def oracle_models(oracle_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh set of models dumped by real MegEngine (see oracle_make_models.py)."""
    out = tmp_path_factory.mktemp("oracle_models")
    run_oracle(oracle_python, str(HERE / "oracle_make_models.py"), str(out))
    return out
