"""Wait for this process's other threads to go idle (spinning thread pools to sleep).

Inference libraries keep their worker threads spinning after a run, so that the next run
starts without waking them: onnxruntime's intra-op workers spin 2**20 polls of their
queue (about 50 ms on an idle machine, 200 ms on a loaded one), OpenVINO's for up to a
few tens of ms, torch's OpenMP threads unless ``OMP_WAIT_POLICY=PASSIVE``. A process that
times several libraries one after the other (fast-run's race, a benchmark) would time
each library's run with the previous one's spinning thread holding a core: on a 2-core
machine a 2-thread run then gets one core. :func:`settle` waits until no other thread of
the process is running (Linux: each thread's state in ``/proc/self/task/*/stat``), so
each run is timed as if its library ran alone, as it will in use.

Example:
    >>> waited = settle(0.05)
    >>> 0.0 <= waited <= 0.5
    True
"""

from __future__ import annotations

import os
import threading
import time

_TASKS = "/proc/self/task"
#: seconds between two looks at the threads' states
POLL_S = 0.0005
#: looks in a row that must find no other thread running: a thread that waits a moment
#: for a lock (a Python thread for the GIL) sleeps for that moment without being idle
IDLE_LOOKS = 2


def running_threads() -> int | None:
    """How many threads of this process, other than the caller, are running or ready to
    run (state ``R``); ``None`` where ``/proc`` does not say (not Linux)."""
    try:
        tasks = os.listdir(_TASKS)
    except OSError:
        return None
    me = str(threading.get_native_id())
    count = 0
    for tid in tasks:
        if tid == me:
            continue
        try:
            with open(f"{_TASKS}/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the thread ended
            continue
        end = stat.rfind(b")")  # the name, in parentheses, may hold spaces and ")"
        if stat[end + 2:end + 3] == b"R":
            count += 1
    return count


def settle(timeout_s: float) -> float:
    """Wait until no other thread of this process runs (:data:`IDLE_LOOKS` looks in a
    row), at most ``timeout_s`` seconds (at once where thread states are unknown).
    Returns the seconds waited."""
    start = time.perf_counter()
    idle_looks = 0
    while True:
        busy = running_threads()
        waited = time.perf_counter() - start
        if busy is None:
            return waited
        idle_looks = 0 if busy else idle_looks + 1
        if idle_looks >= IDLE_LOOKS or waited >= timeout_s:
            return waited
        time.sleep(POLL_S)


__all__ = ["IDLE_LOOKS", "POLL_S", "running_threads", "settle"]
