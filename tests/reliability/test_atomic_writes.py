"""SIGKILL during mge's writers leaves the old file or the new one, never a partial one.

A child process (``writer_child.py``) rewrites a large file (2 MiB; 8 MiB in the slow
test) in a loop with one writer (``trace.dump``, ``mge.save``, ``dump_with_testcase``);
it is killed at random moments,
half of them at a random point of the cycle and half right after a write has created
its temporary file (inside the write window). After every kill the file must equal one
of the two versions byte for byte, keep its mode (0640, although the child's umask is
077), and at most the killed writer's one temporary may be left; the next writer
removes it.
"""

from __future__ import annotations

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
WRITERS = ["trace_dump", "save", "dump_with_testcase"]
ROOT = Path(__file__).resolve().parents[2]
#: kills per writer in the slow test (set MGE_TEST_KILLS for a longer run)
KILLS = int(os.environ.get("MGE_TEST_KILLS", "12"))


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


def _kill_loop(writer: str, tmp_path: Path, kills: int, mib: int, seed: int) -> int:
    """Kill ``kills`` writers; check the file after each; the kills inside a write."""
    rng = random.Random(seed)
    out, refs = tmp_path / "out", tmp_path / "refs"
    out.mkdir()
    refs.mkdir()
    target = out / "model.bin"
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
        data = target.read_bytes()
        versions = [(refs / "a").read_bytes(), (refs / "b").read_bytes()]
        assert any(data == v for v in versions), (
            f"kill {k}: {writer} left {len(data)} bytes, neither version "
            f"({len(versions[0])}/{len(versions[1])} bytes)")
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o640, f"kill {k}: mode changed"
        left = _temporaries(out)
        assert len(left) <= 1 and all(f"-{proc.pid}-" in p.name for p in left), \
            f"kill {k}: temporaries {[p.name for p in left]}"
    proc, _ = _start(writer, target, refs, mib)  # its first write removes the dead one's
    proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert all(f"-{proc.pid}-" in p.name for p in _temporaries(out))
    return in_window


@pytest.mark.parametrize("writer", WRITERS)
def test_sigkill_leaves_old_or_new_file(writer: str, tmp_path: Path) -> None:
    _kill_loop(writer, tmp_path, kills=4, mib=2, seed=WRITERS.index(writer))


@pytest.mark.slow
@pytest.mark.parametrize("writer", WRITERS)
def test_sigkill_many_times(writer: str, tmp_path: Path) -> None:
    in_window = _kill_loop(writer, tmp_path, KILLS, mib=8, seed=100 + WRITERS.index(writer))
    print(f"{writer}: {in_window} of {KILLS} kills inside a write")
