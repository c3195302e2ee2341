"""Timing for ``bench/int8.py``: each engine in its own block, blocks rotated across
rounds, and no engine's idle thread pool still spinning while another is timed.

Why blocks: onnxruntime's intra-op worker threads spin after a ``Run`` before they sleep
(about 30 ms of a core on this machine, measured with ``/proc/self/task/*/schedstat``).
Timed round-robin one run at a time, each engine's run shared the 2 cores with the
spinning worker of the engine timed just before, so at 2 threads every engine looked
slower than at 1. Here each block starts only once the other threads of the process have
gone quiet (:func:`settle`), runs one untimed forward, then ``iters`` timed ones.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def thread_ids() -> set[str]:
    """The ids of this process's threads (empty where ``/proc`` is not readable)."""
    try:
        return set(os.listdir("/proc/self/task"))
    except OSError:
        return set()


def other_threads_cpu_ns(skip: set[str] | None = None) -> int | None:
    """CPU time (ns) of every thread of this process but the main one and those in
    ``skip``; ``None`` where ``/proc/self/task/*/schedstat`` is not readable (not Linux)."""
    main, total = str(os.getpid()), 0
    tasks = thread_ids()
    if not tasks:
        return None
    for task in tasks:
        if task == main or task in (skip or ()):
            continue
        try:
            with open(f"/proc/self/task/{task}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
    return total


def settle(quiet_ms: float = 10.0, windows: int = 3, limit_s: float = 2.0) -> float:
    """Wait until the process's other threads used < 0.3 ms of CPU in each of ``windows``
    consecutive ``quiet_ms`` windows (idle pools stopped spinning; several windows, as a
    spinning thread on a loaded machine may get little CPU in any one); returns the
    seconds waited (``limit_s`` at most)."""
    start = time.perf_counter()
    before = other_threads_cpu_ns()
    if before is None:
        time.sleep(0.1)
        return 0.1
    quiet = 0
    while quiet < windows and time.perf_counter() - start < limit_s:
        time.sleep(quiet_ms / 1e3)
        now = other_threads_cpu_ns() or 0
        quiet = quiet + 1 if now - before < 3e5 else 0
        before = now
    return time.perf_counter() - start


def blocked_ms(fns: dict[str, Callable[[], object]], rounds: int = 5, iters: int = 4,
               owners: dict[str, set[str]] | None = None,
               foreign: dict[str, float] | None = None,
               clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median ms of each function over ``rounds`` blocks of ``iters`` timed runs; the
    blocks' order rotates each round, every block starts after :func:`settle` and one
    untimed run (caches warm again after the other engines ran). ``clock`` reads
    seconds (``time.process_time``: the process's CPU time, which on a loaded machine
    leaves out the waits for a busy core; a forward's latency only at one thread).

    With ``owners`` (each engine's thread ids, :func:`thread_ids` around its loading),
    ``foreign`` receives per engine the mean CPU ms that threads not its own (other
    engines' pools; never the main thread) used during each of its timed runs: about 0
    when nothing else of this process ran while it was timed.

    >>> blocked_ms({"noop": lambda: None}, rounds=1, iters=2)["noop"] < 10
    True
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    stolen: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn, own = fns[name], (owners or {}).get(name, set())
            settle()
            fn()
            for _ in range(iters):
                before = other_threads_cpu_ns(own) if owners is not None else None
                t0 = clock()
                fn()
                times[name].append((clock() - t0) * 1e3)
                if before is not None:
                    stolen[name].append(((other_threads_cpu_ns(own) or 0) - before) / 1e6)
    if foreign is not None:
        foreign.update({k: statistics.mean(v) for k, v in stolen.items() if v})
    return {name: statistics.median(ts) for name, ts in times.items()}


def slower_with_more_threads(ms: dict[tuple[str, int, int, str], float]) -> list[str]:
    """Lines naming every (model, batch, engine) slower at its largest thread count than
    at 1 thread; ``ms`` maps ``(model, batch, threads, engine)`` to median ms.

    >>> slower_with_more_threads({("m", 1, 1, "e"): 2.0, ("m", 1, 2, "e"): 3.0})
    ['m batch 1 e: 3.00 ms at 2 threads > 2.00 ms at 1']
    """
    lines = []
    for (model, batch, threads, engine), value in ms.items():
        one = ms.get((model, batch, 1, engine))
        if threads > 1 and one is not None and value > one:
            lines.append(f"{model} batch {batch} {engine}: {value:.2f} ms at {threads} "
                         f"threads > {one:.2f} ms at 1")
    return lines
