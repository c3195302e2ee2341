"""``mge.utils.atomic_file``: whole-or-nothing writes, modes, errors, leftover temporaries."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mge.utils import (
    TEMP_SUFFIX,
    atomic_write,
    remove_stale_temporaries,
    remove_stale_temporaries_in,
    replace_file,
    write_file,
)
from mge.utils.atomic_file import _HOST

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and processes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX))


@pytest.fixture
def umask() -> Iterator:
    """Set the process umask for one test (restored afterwards)."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def test_writes_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    write_file(path, b"old")
    write_file(str(path), b"new contents")
    assert path.read_bytes() == b"new contents"
    assert _temporaries(tmp_path) == []


def test_append_keeps_old_contents(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    write_file(path, b"one", append=True)
    write_file(path, b"two", append=True)
    assert path.read_bytes() == b"onetwo"


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_keeps_old_file_and_removes_temporary(tmp_path: Path, error: type) -> None:
    path = tmp_path / "m.bin"
    write_file(path, b"old")
    with pytest.raises(error), atomic_write(path) as f:
        f.write(b"partial")
        raise error("stop")
    assert path.read_bytes() == b"old"
    assert _temporaries(tmp_path) == []


def test_failure_leaves_no_new_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic_write(tmp_path / "new.bin") as f:
        f.write(b"x")
        raise ValueError("bad")
    assert list(tmp_path.iterdir()) == []


@posix_only
@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_follows_umask(tmp_path: Path, umask, mask: int, expected: int) -> None:  # noqa: ANN001
    umask(mask)
    write_file(tmp_path / "m.bin", b"x")
    assert _mode(tmp_path / "m.bin") == expected


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o755])
def test_replacing_keeps_mode(tmp_path: Path, umask, mode: int) -> None:  # noqa: ANN001
    umask(0o077)
    path = tmp_path / "m.bin"
    path.write_bytes(b"old")
    os.chmod(path, mode)
    write_file(path, b"new")
    assert _mode(path) == mode and path.read_bytes() == b"new"


@posix_only
def test_symlink_is_kept_and_its_target_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real.bin"
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    write_file(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


@posix_only
def test_device_is_written_in_place() -> None:
    write_file("/dev/null", b"discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_errors_name_the_destination(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "m.bin"
    with pytest.raises(FileNotFoundError) as info:
        write_file(missing, b"x")
    assert info.value.filename == str(missing)
    with pytest.raises(IsADirectoryError) as info:
        write_file(tmp_path, b"x")
    assert info.value.filename == str(tmp_path)


@posix_only
@pytest.mark.skipif(os.name == "posix" and os.geteuid() == 0, reason="root ignores modes")
def test_read_only_folder_error_names_destination(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o500)
    try:
        with pytest.raises(PermissionError) as info:
            write_file(folder / "m.bin", b"x")
    finally:
        os.chmod(folder, 0o700)
    assert info.value.filename == str(folder / "m.bin")
    assert TEMP_SUFFIX not in str(info.value)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@posix_only
def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "model.mge"
    dead = tmp_path / f".model.mge.{_HOST}-{_dead_pid()}-{'0' * 16}{TEMP_SUFFIX}"
    alive = tmp_path / f".model.mge.{_HOST}-{os.getpid()}-{'1' * 16}{TEMP_SUFFIX}"
    other_host = tmp_path / f".model.mge.ffffffff-{_dead_pid()}-{'2' * 16}{TEMP_SUFFIX}"
    if _HOST == "ffffffff":
        pytest.skip("this host hashes like the made-up one")
    other_file = tmp_path / f".other.mge.{_HOST}-{_dead_pid()}-{'3' * 16}{TEMP_SUFFIX}"
    for p in (dead, alive, other_host, other_file):
        p.write_bytes(b"partial")
    assert remove_stale_temporaries(path) == [str(dead)]
    write_file(path, b"x")
    assert _temporaries(tmp_path) == sorted(p.name for p in (alive, other_host, other_file))


@posix_only
def test_stale_temporaries_of_any_file_in_a_folder(tmp_path: Path) -> None:
    """For writers that never reuse a name (batch-predict parts)."""
    if _HOST == "ffffffff":
        pytest.skip("this host hashes like the made-up one")
    dead = [tmp_path / f".part-{k}.parquet.{_HOST}-{_dead_pid()}-{'0' * 16}{TEMP_SUFFIX}"
            for k in range(2)]
    kept = [tmp_path / f".part-2.parquet.{_HOST}-{os.getpid()}-{'1' * 16}{TEMP_SUFFIX}",
            tmp_path / f".part-3.parquet.ffffffff-{_dead_pid()}-{'2' * 16}{TEMP_SUFFIX}",
            tmp_path / "part-4.parquet"]
    for p in dead + kept:
        p.write_bytes(b"partial")
    assert sorted(remove_stale_temporaries_in(tmp_path)) == sorted(map(str, dead))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)


@pytest.mark.parametrize("durable", [True, False])
def test_durable_decides_the_disk_flushes(tmp_path: Path, durable: bool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    (tmp_path / "p.json").write_bytes(b"old")
    write_file(tmp_path / "p.json", b"new", durable=durable)
    assert (tmp_path / "p.json").read_bytes() == b"new" and not _temporaries(tmp_path)
    assert len(synced) == (2 if durable else 0)  # the file and its folder


def test_replace_file_moves_a_finished_file_over_the_old_one(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"old")
    (tmp_path / "w.bin.partial").write_bytes(b"new")
    replace_file(tmp_path / "w.bin.partial", tmp_path / "w.bin")
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]
    assert (tmp_path / "w.bin").read_bytes() == b"new"


def test_long_names_fit(tmp_path: Path) -> None:
    path = tmp_path / ("n" * 250)
    write_file(path, b"x")
    assert path.read_bytes() == b"x"
