"""Fixtures for the hub tests: a private ``$MGE_HOME`` and a local HTTP server.

Nothing here contacts any address but 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import FileServer, serve


@pytest.fixture(autouse=True)
def mge_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every hub test gets its own ``$MGE_HOME``."""
    home = tmp_path / "mge-home"
    monkeypatch.setenv("MGE_HOME", str(home))
    monkeypatch.delenv("MGE_WEIGHTS_URL", raising=False)
    return home


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    with serve(FileServer()) as state:
        yield state
