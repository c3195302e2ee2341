"""Fixtures for the hub tests: a private ``$MGE_HOME`` and a local HTTP server.

Nothing here contacts any address but 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import FileServer, serve

#: a git directory of MegEngine/Models (the zoo tests skip without it)
MODELS_REPO = Path(os.environ.get("MGE_MODELS_REPO", "/work/.mirror/MegEngine+Models/repo"))


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work tree of the MegEngine/Models copy (``git archive HEAD``)."""
    root = tmp_path_factory.mktemp("models")
    archive = subprocess.run(["git", "-C", str(MODELS_REPO), "archive", "HEAD"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root


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
