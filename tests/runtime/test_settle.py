"""settle: waiting for the process's other threads (spinning thread pools) to go idle."""

from __future__ import annotations

import hashlib
import sys
import threading
import time

import pytest

from mge.runtime.settle import running_threads, settle

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


_DATA = bytes(4 << 20)


def work() -> None:
    """A few milliseconds of hashing, the GIL released (the thread runs beside the main
    one, as a library's pool thread does; no thread pool of its own). Long calls keep
    the moments the thread waits for the GIL (and looks asleep) rare."""
    hashlib.sha256(_DATA).digest()


@linux
def test_settle_waits_for_a_spinning_thread() -> None:
    stop = time.perf_counter() + 0.08
    started = threading.Event()

    def spin() -> None:
        started.set()
        while time.perf_counter() < stop:
            work()

    thread = threading.Thread(target=spin)
    thread.start()
    started.wait()
    try:
        waited = settle(5.0)
        assert 0.03 < waited < 5.0  # until the spin ended (started late on a busy machine)
        assert time.perf_counter() >= stop - 0.01
    finally:
        thread.join()


@linux
def test_sleeping_threads_do_not_count_and_the_wait_is_capped() -> None:
    done = threading.Event()
    sleeper = threading.Thread(target=done.wait)
    sleeper.start()
    try:
        time.sleep(0.01)
        assert running_threads() == 0
        assert settle(1.0) < 0.5
    finally:
        done.set()
        sleeper.join()
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            work()

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        assert 0.05 <= settle(0.05) < 1.0  # a thread that never idles: the cap
    finally:
        stop.set()
        spinner.join()


def test_unknown_thread_states_do_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    from mge.runtime import settle as module

    monkeypatch.setattr(module, "_TASKS", "/nonexistent/task")
    assert running_threads() is None
    assert settle(1.0) < 0.01
