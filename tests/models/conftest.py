"""Fixtures for model tests: the real-MegEngine oracle interpreter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def oracle_python() -> str:
    """Interpreter with real MegEngine 1.13; skips the test when there is none."""
    path = os.environ.get("MGE_ORACLE_PYTHON") or str(REPO / ".oracle" / "bin" / "python")
    if not os.path.exists(path):
        pytest.skip("real MegEngine oracle not available (no .oracle venv, MGE_ORACLE_PYTHON)")
    return path
