"""The load cache's writes, off the load's path: the entry appears after the load
returned, is used next time with bit-identical outputs; a failed write leaves nothing;
concurrent loads (threads, processes) miss or hit but never see half an entry; an
exiting process finishes its write; a killed writer's leftovers are removed."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mge.lite import cached_plan
from mge.lite.cached_plan import LazyPlanCache
from mge.lite.entry_writer import wait_writes
from mge.lite.load_cache import remove_stale

from .test_load_cache import X, entries, run, wide_model
from .test_load_cache import load as load_and_wait

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_model(make_model: object) -> Path:
    return wide_model(make_model, 12)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "load_cache"
    monkeypatch.setenv("MGE_LOAD_CACHE", str(folder))
    yield folder
    assert wait_writes(timeout=60)


def load(path: Path) -> object:
    """A load that does not wait for its entry."""
    from mge.lite import LiteConfig, LiteNetwork

    cfg = LiteConfig()
    cfg.plan_backend = "onnxruntime"
    net = LiteNetwork(cfg)
    net.threads_number = 1
    net.load(path)
    return net


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Entries are built only once the returned event is set."""
    opened = threading.Event()
    real = cached_plan.entry_of

    def gated(*args: object) -> object:
        build = real(*args)
        if build is None:
            return None

        def wait_then_build(scratch: str) -> object:
            assert opened.wait(60)
            return build(scratch)

        return wait_then_build

    monkeypatch.setattr("mge.lite.cached_load.entry_of", gated)
    yield opened
    opened.set()


def test_the_entry_is_written_after_the_load_returned(small_model: Path, cache_dir: Path,
                                                     gate: threading.Event) -> None:
    first = load(small_model)  # returns while its entry waits at the gate
    assert entries(cache_dir) == []
    # another process meanwhile misses and compiles the model itself (its own write
    # finishes before it exits)
    assert _children(small_model, cache_dir, 1) == ["PlanCache"]
    # a load in this process meanwhile waits for the write, then uses the entry
    later: list[object] = []
    waiting = threading.Thread(target=lambda: later.append(load(small_model)))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive() and later == []
    gate.set()
    waiting.join(60)
    assert wait_writes(timeout=60)
    assert len(entries(cache_dir)) == 1
    assert not list(cache_dir.glob(".*"))  # no temporary folder left
    (second,) = later
    assert isinstance(second._cache, LazyPlanCache)
    out1, out2 = run(first, X), run(second, X)
    for name in out1:
        assert np.array_equal(out1[name], out2[name]), name


def test_a_failed_write_is_logged_and_leaves_nothing(small_model: Path, cache_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("mge.runtime.ort_plan.save_optimized", broken)
    with caplog.at_level(logging.WARNING, logger="mge.lite"):
        net = load_and_wait(small_model)
    assert "was not written (OSError: disk full)" in caplog.text
    assert entries(cache_dir) == [] and not list(cache_dir.glob(".*"))
    assert np.isfinite(run(net, X)["logits"]).all()


_CHILD = """
import sys
from mge.lite import LiteConfig, LiteNetwork
cfg = LiteConfig()
cfg.plan_backend = "onnxruntime"
net = LiteNetwork(cfg)
net.load(sys.argv[1])
print(type(net._cache).__name__)
"""


def _children(model: Path, cache_dir: Path, count: int) -> list[str]:
    env = {**os.environ, "MGE_LOAD_CACHE": str(cache_dir), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, str(model)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(count)]
    replies = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        replies.append(out.split()[-1])
    return replies


@pytest.mark.slow
def test_concurrent_processes_and_exit(small_model: Path, cache_dir: Path) -> None:
    # each process exits right after loading: the exit waits for its entry's write
    assert set(_children(small_model, cache_dir, 3)) <= {"PlanCache", "LazyPlanCache"}
    assert len(entries(cache_dir)) == 1
    assert not list(cache_dir.glob(".*"))
    assert _children(small_model, cache_dir, 2) == ["LazyPlanCache"] * 2
    ref = run(load_and_wait(small_model), X)  # in this process, from the entry
    fresh = run(load_and_wait(small_model, load_cache=False), X)
    assert np.array_equal(ref["logits"], fresh["logits"])


def test_a_killed_writers_leftovers_are_removed(small_model: Path, cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True)
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    old = time.time() - 3600
    leftovers = [cache_dir / f".0123456789abcdef.{dead}-00ff00ff.tmp",
                 cache_dir / f".saving.{dead}-00ff00ff.tmp"]
    for folder in leftovers:
        folder.mkdir()
        (folder / "weights.bin").write_bytes(b"\0" * 10)
        os.utime(folder, (old, old))
    alias_tmp = cache_dir / f"{'a' * 64}.path.{dead}-0a0b0c0d.tmp"
    alias_tmp.write_text("x")
    os.utime(alias_tmp, (old, old))
    young = cache_dir / f".fedcba9876543210.{dead}-11111111.tmp"
    young.mkdir()  # a minute has not passed: its writer may be on another host
    live = cache_dir / f".0000111122223333.{os.getpid()}-22222222.tmp"
    live.mkdir()
    os.utime(live, (old, old))
    remove_stale(str(cache_dir))
    assert not any(p.exists() for p in [*leftovers, alias_tmp])
    assert young.exists() and live.exists()
