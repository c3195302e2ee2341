"""SIGKILL during mge's writers leaves the old file or the new one, never a partial one.

A child process (``writer_child.py``) rewrites a large file (2 MiB; 8 MiB in the slow
test) in a loop with one writer: ``trace.dump``, ``mge.save``, ``dump_with_testcase``,
``to_onnx``, ``onnx_to_mge``, Lite's profile, text and ``.npy`` IO dumps, memory report,
``dump_layout_transform_model`` and persistent cache, and batch-predict's parquet parts.
It is killed at random moments, half of them at a random point of the cycle and half
right after a write has created its temporary file (inside the write window). After
every kill the file must equal one of the two versions byte for byte (a profile, whose
times change, must be whole: JSON with every op, its summary with every line), keep
its mode (0640, although the child's umask is 077; new batch-predict parts get 0600),
and at most the killed writer's one temporary may be left (the next writer removed the
one before). Every writer is killed twice by default, 4 times at 8 MiB in the slow test
(``MGE_TEST_KILLS=40`` for a long manual run).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mge.utils import TEMP_SUFFIX

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and file modes are POSIX")

CHILD = Path(__file__).with_name("writer_child.py")
#: writer -> the file it writes (a glob for batch-predict's new parts)
TARGETS = {
    "trace_dump": "model.bin", "save": "model.bin", "dump_with_testcase": "model.bin",
    "to_onnx": "model.onnx", "onnx_to_mge": "model.mge", "lite_profile": "profile.json",
    "lite_io_txt_dump": "io.txt", "lite_io_bin_dump": "001_0000_data.npy",
    "lite_memory_info": "StaticMemoryInfo.json", "lite_layout_model": "model.mge",
    "persistent_cache": "cache.bin", "batch_predict_part": "part-*.parquet",
}
WRITERS = list(TARGETS)
#: modules a writer needs beyond mge's core
NEEDS = {"to_onnx": ["onnx"], "onnx_to_mge": ["onnx"], "batch_predict_part": ["ray", "pyarrow"]}
ROOT = Path(__file__).resolve().parents[2]
#: kills per writer in the slow test (set MGE_TEST_KILLS for a longer run)
KILLS = int(os.environ.get("MGE_TEST_KILLS", "4"))


def _skip_without_extras(writer: str) -> None:
    missing = [m for m in NEEDS.get(writer, []) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the {writer} writer needs {', '.join(missing)} (the dev extra)")


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)]


def _start(writer: str, target: Path, refs: Path, mib: int
           ) -> tuple[subprocess.Popen, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(CHILD), writer, str(target), str(refs), str(mib)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    line = proc.stdout.readline().decode()
    if not line.startswith("ready"):
        proc.kill()
        raise AssertionError(f"{writer} child failed: {line}{proc.stderr.read().decode()}")
    return proc, float(line.split()[1])


def _wait_for_temporary(folder: Path, proc: subprocess.Popen, write_time: float) -> None:
    """Return once a write of ``proc`` has created its temporary file (or, should none
    appear, after the time of many writes)."""
    deadline = time.monotonic() + 5 + 20 * write_time
    while proc.poll() is None and time.monotonic() < deadline and not any(
            f"-{proc.pid}-" in p.name for p in _temporaries(folder)):
        time.sleep(0.0005)


def _check_profile(path: Path, ref: Path) -> None:
    """A profile is whole: JSON with every op, a summary with every line."""
    got, want = json.loads(path.read_text()), json.loads(ref.read_text())
    assert got.keys() == want.keys() and len(got["ops"]) == len(want["ops"])
    summary, ref_summary = (p.with_suffix(".txt").read_text() for p in (path, ref))
    assert summary.endswith("\n") and summary.count("\n") == ref_summary.count("\n")


def _check_files(writer: str, out: Path, refs: Path, k: int) -> None:
    """Every file the writer wrote is one whole version, with the expected mode."""
    target = TARGETS[writer]
    versions = [f.read_bytes() for folder in (refs / "a", refs / "b")
                for f in folder.glob(target)]
    assert len(versions) == 2, f"{writer}: references {versions}"
    files = sorted(out.glob(target))
    assert files or "*" in target, f"kill {k}: {writer} left no {target}"
    for path in files:
        if writer == "lite_profile":
            _check_profile(path, refs / "a" / target)
        else:
            data = path.read_bytes()
            assert any(data == v for v in versions), (
                f"kill {k}: {writer} left {path.name} of {len(data)} bytes, neither version "
                f"({len(versions[0])}/{len(versions[1])} bytes)")
        mode = 0o600 if "*" in target else 0o640  # new parts follow the child's umask 077
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, f"kill {k}: {path.name} mode"


def _kill_loop(writer: str, tmp_path: Path, kills: int, mib: int, seed: int) -> int:
    """Kill ``kills`` (>= 2) writers; check the files after each; the kills inside a
    write. The temporaries left after a kill are checked once the next writer ran."""
    rng = random.Random(seed)
    out, refs = tmp_path / "out", tmp_path / "refs"
    out.mkdir()
    refs.mkdir()
    target = out / TARGETS[writer]
    if "*" not in target.name:
        target.write_bytes(b"")  # an existing file whose mode every replacement must keep
        os.chmod(target, 0o640)
    in_window = 0
    for k in range(kills):
        proc, write_time = _start(writer, target, refs, mib)
        if k % 2:
            _wait_for_temporary(out, proc, write_time)
            time.sleep(rng.uniform(0, min(write_time, 0.02)))
        else:
            time.sleep(rng.uniform(0, 2.5 * write_time))
        in_window += any(f"-{proc.pid}-" in p.name for p in _temporaries(out))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        _check_files(writer, out, refs, k)
        left = _temporaries(out)  # each writer's first write removed the dead one's
        assert len(left) <= 1 and all(f"-{proc.pid}-" in p.name for p in left), \
            f"kill {k}: temporaries {[p.name for p in left]}"
    return in_window


@pytest.mark.parametrize("writer", WRITERS)
def test_sigkill_leaves_old_or_new_file(writer: str, tmp_path: Path) -> None:
    _skip_without_extras(writer)
    _kill_loop(writer, tmp_path, kills=2, mib=2, seed=WRITERS.index(writer))


@pytest.mark.slow
@pytest.mark.parametrize("writer", WRITERS)
def test_sigkill_many_times(writer: str, tmp_path: Path) -> None:
    _skip_without_extras(writer)
    in_window = _kill_loop(writer, tmp_path, KILLS, mib=8, seed=100 + WRITERS.index(writer))
    print(f"{writer}: {in_window} of {KILLS} kills inside a write")
