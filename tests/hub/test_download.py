"""Weights from URLs: download, cache hits, checksums, resuming, offline and timeout errors."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.module as M
from mge import hub
from mge.hub import ChecksumMismatchError, HTTPDownloadError, download_url_to_file

from .helpers import FileServer


def _pickled(obj: object) -> bytes:
    buf = io.BytesIO()
    mge.save(obj, buf)
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


DATA = bytes(range(256)) * 4000  # ~1 MB, a few read blocks


def test_download_then_cache_hit(file_server: FileServer, mge_home: Path) -> None:
    state = {"w": np.arange(6, dtype="float32").reshape(2, 3)}
    file_server.files["/weights/net_1.pkl"] = _pickled(state)
    url = file_server.url("/weights/net_1.pkl")
    first = hub.load_serialized_obj_from_url(url)
    np.testing.assert_array_equal(first["w"], state["w"])
    cached = mge_home / "serialized" / f"{_sha(url.encode())[:6]}_net_1.pkl"
    assert cached.read_bytes() == file_server.files["/weights/net_1.pkl"]
    assert not Path(f"{cached}.partial").exists()
    second = hub.load_serialized_obj_from_url(url)
    np.testing.assert_array_equal(second["w"], state["w"])
    assert file_server.gets("/weights/net_1.pkl") == [(None, 200)]  # the second is a cache hit


def test_model_dir_and_checksums(file_server: FileServer, tmp_path: Path) -> None:
    data = _pickled([1, 2, 3])
    file_server.files["/a.pkl"] = data
    url = file_server.url("/a.pkl")
    for i, expected in enumerate([_sha(data), _sha(data)[:6].upper()]):
        out = tmp_path / f"dir{i}"
        assert hub.load_serialized_obj_from_url(url, str(out), sha256=expected) == [1, 2, 3]
        assert [p.name for p in out.iterdir() if not p.name.endswith(".lock")] == [
            f"{_sha(url.encode())[:6]}_a.pkl"
        ]
    with pytest.raises(ValueError, match="6 to 64 hexadecimal digits"):
        hub.load_serialized_obj_from_url(url, str(tmp_path / "bad"), sha256="xyz")


def test_checksum_mismatch_leaves_nothing(file_server: FileServer, mge_home: Path) -> None:
    file_server.files["/w.pkl"] = _pickled({"a": 1})
    url = file_server.url("/w.pkl")
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatchError) as info:
        hub.load_serialized_obj_from_url(url, sha256=wrong)
    cached = mge_home / "serialized" / f"{_sha(url.encode())[:6]}_w.pkl"
    message = str(info.value)
    for part in (url, wrong, _sha(file_server.files["/w.pkl"]), str(cached)):
        assert part in message
    assert list(cached.parent.iterdir()) == []  # no partial file, no validator, no lock
    # the next attempt downloads again (nothing corrupt was kept) and succeeds
    assert hub.load_serialized_obj_from_url(url) == {"a": 1}
    assert len(file_server.gets("/w.pkl")) == 2


def test_hash_in_file_name(file_server: FileServer, tmp_path: Path) -> None:
    data = _pickled("ok")
    good, bad = f"/net-{_sha(data)[:8]}.pkl", "/net_abcdef12.pkl"
    file_server.files[good] = file_server.files[bad] = data
    assert hub.load_serialized_obj_from_url(file_server.url(good), str(tmp_path),
                                            check_hash=True) == "ok"
    # the name's hash is ignored by default (MegEngine's behaviour) ...
    assert hub.load_serialized_obj_from_url(file_server.url(bad), str(tmp_path / "a")) == "ok"
    # ... and checked on request (a name without a separated hex suffix has nothing to check)
    file_server.files["/abcdef.pkl"] = data
    assert hub.load_serialized_obj_from_url(file_server.url("/abcdef.pkl"), str(tmp_path / "c"),
                                            check_hash=True) == "ok"
    with pytest.raises(ChecksumMismatchError, match="expected sha256 abcdef12"):
        hub.load_serialized_obj_from_url(file_server.url(bad), str(tmp_path / "b"),
                                         check_hash=True)


def test_server_down_names_url_and_cache_path(mge_home: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/models/resnet18_x.pkl"
    with pytest.raises(HTTPDownloadError) as info:
        hub.load_serialized_obj_from_url(url)
    cached = mge_home / "serialized" / f"{_sha(url.encode())[:6]}_resnet18_x.pkl"
    assert url in str(info.value) and str(cached) in str(info.value)
    assert "offline" in str(info.value) and "refused" in str(info.value).lower()
    assert not cached.exists() and not Path(f"{cached}.partial").exists()


def test_http_error_is_reported(file_server: FileServer, tmp_path: Path) -> None:
    url = file_server.url("/missing.pkl")
    with pytest.raises(HTTPDownloadError, match=r"HTTP 404.*put it at .*missing\.pkl"):
        download_url_to_file(url, tmp_path / "missing.pkl")


def test_timeout_is_bounded(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/w.bin"
        start = time.perf_counter()
        with pytest.raises(HTTPDownloadError, match="timed out"):
            download_url_to_file(url, tmp_path / "w.bin", timeout=0.5)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("ranges", [True, False], ids=["range", "no-range"])
def test_interrupted_download_resumes(file_server: FileServer, tmp_path: Path,
                                      ranges: bool) -> None:
    file_server.files["/big.bin"] = DATA
    file_server.ranges = ranges
    file_server.cut_next = 300_000
    url, dst = file_server.url("/big.bin"), tmp_path / "big.bin"
    with pytest.raises(HTTPDownloadError, match="300000 bytes are kept") as info:
        download_url_to_file(url, dst, sha256=_sha(DATA), progress=False)
    partial = Path(f"{dst}.partial")
    assert str(partial) in str(info.value)
    assert partial.read_bytes() == DATA[:300_000] and not dst.exists()
    assert download_url_to_file(url, dst, sha256=_sha(DATA), progress=False) == _sha(DATA)
    assert dst.read_bytes() == DATA and not partial.exists()
    # a server with ranges sends only the rest; one without sends everything again
    assert file_server.gets("/big.bin") == [
        (None, 200), ("bytes=300000-", 206 if ranges else 200)
    ]


def test_partial_longer_than_file_restarts(file_server: FileServer, tmp_path: Path) -> None:
    file_server.files["/w.bin"] = b"abc"
    dst = tmp_path / "w.bin"
    Path(f"{dst}.partial").write_bytes(b"something else")
    Path(f"{dst}.partial.validator").write_bytes(file_server.etag("/w.bin").encode())
    download_url_to_file(file_server.url("/w.bin"), dst, progress=False)
    assert dst.read_bytes() == b"abc"
    assert file_server.gets("/w.bin") == [("bytes=14-", 416), (None, 200)]


def test_partial_without_validator_is_never_resumed(file_server: FileServer,
                                                    tmp_path: Path) -> None:
    file_server.files["/w.bin"] = DATA
    dst = tmp_path / "w.bin"
    partial = Path(f"{dst}.partial")
    partial.write_bytes(b"\xff" * 1000)  # not a prefix of DATA: resuming would splice
    download_url_to_file(file_server.url("/w.bin"), dst, sha256=_sha(DATA))
    assert dst.read_bytes() == DATA and not partial.exists()
    assert file_server.gets("/w.bin") == [(None, 200)]


def test_corrupt_partial_fails_checksum_and_is_removed(file_server: FileServer,
                                                       tmp_path: Path) -> None:
    file_server.files["/w.bin"] = DATA
    dst = tmp_path / "w.bin"
    partial = Path(f"{dst}.partial")
    partial.write_bytes(b"\xff" * 1000)  # corrupted on disk, same server version
    Path(f"{dst}.partial.validator").write_bytes(file_server.etag("/w.bin").encode())
    with pytest.raises(ChecksumMismatchError):
        download_url_to_file(file_server.url("/w.bin"), dst, sha256=_sha(DATA))
    assert not partial.exists() and not dst.exists()
    download_url_to_file(file_server.url("/w.bin"), dst, sha256=_sha(DATA))
    assert dst.read_bytes() == DATA


def test_concurrent_downloads_fetch_once(file_server: FileServer, tmp_path: Path) -> None:
    file_server.files["/w.bin"] = DATA
    file_server.delay = 0.2
    dst, digests = tmp_path / "w.bin", []

    def fetch() -> None:
        digests.append(download_url_to_file(file_server.url("/w.bin"), dst, progress=False))

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert digests == [_sha(DATA)] * 3 and dst.read_bytes() == DATA
    assert len(file_server.gets("/w.bin")) == 1


def test_local_sources(tmp_path: Path) -> None:
    src = tmp_path / "src" / "w.bin"
    src.parent.mkdir()
    src.write_bytes(b"local weights")
    for i, url in enumerate([str(src), src.as_uri()]):
        dst = tmp_path / f"out{i}" / "w.bin"
        assert download_url_to_file(url, dst, sha256=_sha(b"local weights")[:10])
        assert dst.read_bytes() == b"local weights"
    with pytest.raises(HTTPDownloadError, match="unsupported URL scheme 's3'"):
        download_url_to_file("s3://bucket/w.bin", tmp_path / "s3.bin")
    with pytest.raises(HTTPDownloadError, match="put it at"):
        download_url_to_file(str(tmp_path / "absent.bin"), tmp_path / "x.bin")


def test_pretrained_decorator(file_server: FileServer) -> None:
    reference = M.Linear(3, 2)
    file_server.files["/fc.pkl"] = _pickled(reference.state_dict())

    @hub.pretrained(file_server.url("/fc.pkl"), sha256=_sha(file_server.files["/fc.pkl"]))
    def fc(**kwargs: object) -> M.Linear:
        """A linear layer."""
        return M.Linear(3, 2, **kwargs)

    assert fc.__doc__ == "A linear layer." and fc.url == file_server.url("/fc.pkl")
    fresh = fc()
    assert file_server.log == []  # no download without pretrained=True
    assert not np.array_equal(fresh.weight.numpy(), reference.weight.numpy())
    loaded = fc(pretrained=True)
    np.testing.assert_array_equal(loaded.weight.numpy(), reference.weight.numpy())
    np.testing.assert_array_equal(loaded.bias.numpy(), reference.bias.numpy())
    with pytest.raises(KeyError, match="strict=True"):
        hub.pretrained(file_server.url("/fc.pkl"))(lambda: M.Sequential(
            M.Linear(3, 2), M.Linear(2, 2)))(pretrained=True)


def test_home_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MGE_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/cache")
    assert hub.get_mge_home() == os.path.join("/x/cache", "mge")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert hub.get_mge_home() == os.path.expanduser(os.path.join("~", ".cache", "mge"))
