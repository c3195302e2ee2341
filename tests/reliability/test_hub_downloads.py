"""Hub downloads from a hostile HTTP server on 127.0.0.1 never leave a bad cached file.

The server truncates bodies (with and without Content-Length), serves HTML with status
200, changes the file between an interrupted download and its resume, and stalls; the
repository fetcher meets a 2 MB -> 2 GiB zip bomb, symlinks, empty archives and a
repository without hubconf.py. Every wait is bounded by short timeouts and deadlines.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import mge
from mge import hub
from mge.hub import GitPullError, HTTPDownloadError, InvalidRepo, download_url_to_file
from tests.hub.helpers import FileServer, serve


@pytest.fixture(autouse=True)
def mge_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mge-home"
    monkeypatch.setenv("MGE_HOME", str(home))
    return home


@pytest.fixture
def server() -> Iterator[FileServer]:
    with serve(FileServer()) as state:
        yield state


def _pickled(obj: object) -> bytes:
    buf = io.BytesIO()
    mge.save(obj, buf)
    return buf.getvalue()


WEIGHTS = _pickled({"w": np.arange(300_000, dtype="float32")})  # ~1.2 MB
V2 = _pickled({"w": np.arange(300_000, dtype="float32") * 2})


def _cache_files(home: Path) -> list[str]:
    return sorted(p.name for p in home.rglob("*") if p.is_file())


def _load(server: FileServer, path: str = "/w.pkl") -> object:
    return hub.load_serialized_obj_from_url(server.url(path), progress=False)


def test_cut_with_content_length_is_kept_partial_then_resumed(server: FileServer,
                                                              mge_home: Path) -> None:
    server.files["/w.pkl"] = WEIGHTS
    server.cut_next = 500_000
    with pytest.raises(HTTPDownloadError, match="500000 of"):
        _load(server)
    assert not any(name.endswith(".pkl") for name in _cache_files(mge_home))
    np.testing.assert_array_equal(_load(server)["w"], np.arange(300_000, dtype="float32"))
    assert [rng for rng, _ in server.gets("/w.pkl")] == [None, "bytes=500000-"]


def test_cut_without_content_length_is_never_cached(server: FileServer,
                                                    mge_home: Path) -> None:
    server.files["/w.pkl"] = WEIGHTS
    server.no_length, server.cut_next = True, 500_000
    with pytest.raises(Exception, match=r"serialized/\w+_w\.pkl does not load") as info:
        _load(server)
    assert "removed from the cache" in str(info.value)
    assert _cache_files(mge_home) == []
    np.testing.assert_array_equal(_load(server)["w"], np.arange(300_000, dtype="float32"))


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_html_with_status_200_is_refused(server: FileServer, mge_home: Path,
                                         content_type: str) -> None:
    server.files["/w.pkl"] = b"<!DOCTYPE html>\n<html><body>Please sign in</body></html>"
    server.content_type = content_type
    with pytest.raises(HTTPDownloadError, match="an HTML page"):
        _load(server)
    assert _cache_files(mge_home) == []


def test_file_changed_between_resumes_restarts_whole(server: FileServer,
                                                     mge_home: Path) -> None:
    server.files["/w.pkl"] = WEIGHTS
    server.cut_next = 400_000
    with pytest.raises(HTTPDownloadError):
        _load(server)
    server.files["/w.pkl"] = V2  # If-Range no longer matches: the server sends all of V2
    np.testing.assert_array_equal(_load(server)["w"], np.arange(300_000, dtype="float32") * 2)
    assert server.gets("/w.pkl")[-1] == ("bytes=400000-", 200)


def test_server_ignoring_if_range_cannot_splice(server: FileServer, mge_home: Path) -> None:
    server.files["/w.pkl"] = WEIGHTS
    server.cut_next = 400_000
    with pytest.raises(HTTPDownloadError):
        _load(server)
    server.files["/w.pkl"] = V2
    server.ignore_if_range = True  # answers 206 with the new version's tail
    with pytest.raises(HTTPDownloadError, match="changed since the partial download"):
        _load(server)
    assert _cache_files(mge_home) == []
    np.testing.assert_array_equal(_load(server)["w"], np.arange(300_000, dtype="float32") * 2)


def test_server_without_validators_is_never_resumed(server: FileServer,
                                                    mge_home: Path) -> None:
    server.files["/w.pkl"] = WEIGHTS
    server.validators, server.cut_next = False, 400_000
    with pytest.raises(HTTPDownloadError):
        _load(server)
    server.files["/w.pkl"] = V2
    np.testing.assert_array_equal(_load(server)["w"], np.arange(300_000, dtype="float32") * 2)
    assert [rng for rng, _ in server.gets("/w.pkl")] == [None, None]


def test_stalled_server_times_out(server: FileServer, tmp_path: Path) -> None:
    server.files["/w.bin"] = b"x" * 100
    server.delay = 3.0
    start = time.monotonic()
    with pytest.raises(HTTPDownloadError, match="timed out"):
        download_url_to_file(server.url("/w.bin"), tmp_path / "w.bin", timeout=0.5,
                             progress=False)
    assert time.monotonic() - start < 3.0


def test_dripping_server_meets_the_overall_deadline(server: FileServer, tmp_path: Path) -> None:
    server.files["/w.bin"] = b"x" * 200
    server.drip = 0.02  # 4 s for the body, never a silent 0.5 s
    start = time.monotonic()
    with pytest.raises(HTTPDownloadError, match="overall deadline"):
        download_url_to_file(server.url("/w.bin"), tmp_path / "w.bin", timeout=0.5,
                             deadline=1.0, progress=False)
    assert time.monotonic() - start < 3.0
    assert not (tmp_path / "w.bin").exists()


# ------------------------------------------------------------------ repositories
def _zip(files: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zipped:
        for name, data in files.items():
            zipped.writestr(f"repo-master/{name}", data)
        for name in links:
            info = zipfile.ZipInfo(f"repo-master/{name}")
            info.external_attr = (0o120777 << 16)
            zipped.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _zip_bomb(entries: int = 32, entry_size: int = 64 << 20, declared: int | None = None
              ) -> bytes:
    """``entries`` members of ``entry_size`` zeros (2 GiB by default) sharing one deflate
    stream: about 2 MB, written by hand so that no test compresses 2 GiB. ``declared``:
    the size the headers claim (a lying archive), ``entry_size`` unless given."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    stream = b"".join(packer.compress(block) for _ in range(entry_size >> 20)) + packer.flush()
    crc = 0
    for _ in range(entry_size >> 20):
        crc = zlib.crc32(block, crc)
    local, central = bytearray(), bytearray()
    for k in range(entries):
        name = f"repo-master/zeros{k}.bin".encode()
        fields = (20, 0, 8, 0, 0, crc, len(stream), declared or entry_size, len(name))
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0,
                               len(local)) + name
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + name + stream
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, len(central),
                      len(local), 0)
    return bytes(local + central + end)


def _fetch(server: FileServer, archive: bytes) -> object:
    server.files["/me/repo/archive/master.zip"] = archive
    return hub.import_module("me/repo", git_host=server.url(""))


def _disk_usage(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_zip_bomb_is_refused_within_limits(server: FileServer, mge_home: Path) -> None:
    bomb = _zip_bomb()
    assert len(bomb) < 4 << 20
    with zipfile.ZipFile(io.BytesIO(bomb)) as zipped:  # a valid archive of 2 GiB
        assert sum(m.file_size for m in zipped.infolist()) == 2 << 30
    with pytest.raises(GitPullError, match="over the limits"):
        _fetch(server, bomb)
    assert _disk_usage(mge_home) == 0


def test_zip_bomb_understating_its_sizes_is_refused(server: FileServer, mge_home: Path) -> None:
    """Headers claiming 1 MiB per member for 64 MiB of data: within the limits, so it is
    unpacked, but zipfile stops at the declared size and the CRC check fails."""
    bomb = _zip_bomb(entries=4, declared=1 << 20)
    with pytest.raises(GitPullError, match="not a zip archive of a repository.*CRC"):
        _fetch(server, bomb)
    assert _disk_usage(mge_home) == 0


def test_symlinks_are_refused(server: FileServer, mge_home: Path) -> None:
    with pytest.raises(GitPullError, match=r"symbolic links \(repo-master/passwd\)"):
        _fetch(server, _zip({"hubconf.py": b"x = 1\n"}, links=("passwd",)))
    assert _cache_files(mge_home) == []


def test_empty_archive_is_refused(server: FileServer, mge_home: Path) -> None:
    with pytest.raises(GitPullError, match="is empty"):
        _fetch(server, _zip({}))
    assert _cache_files(mge_home) == []


def test_repository_without_hubconf_is_not_cached(server: FileServer, mge_home: Path) -> None:
    with pytest.raises(InvalidRepo, match="no hubconf.py .* not kept in the cache"):
        _fetch(server, _zip({"README.md": b"no entry points"}))
    assert _cache_files(mge_home) == []
    assert _fetch(server, _zip({"hubconf.py": b"VERSION = 3\n"})).VERSION == 3
    assert not any(name.endswith(".lock") for name in _cache_files(mge_home))
