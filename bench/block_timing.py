"""Interleaved block timing for benchmarks that compare engines within a few per cent.

One forward of a small model takes well under a millisecond, and on a shared machine the
speed of everything drifts over seconds; a ratio of two medians taken at different times
carries that drift. So the engines are timed in **rounds**; in each round every engine
runs one **block**, in an order shuffled every round (no engine always follows the same
one: each inherits its predecessor's leftovers, a spinning pool, evicted caches), and
every engine's block is treated the same:

1. a wait until the process's other threads are idle (``mge.runtime.settle``, at most
   :data:`SETTLE_CAP_S`, at least :data:`SETTLE_S`): the previous engine's thread pool
   spins after its last run (onnxruntime's 2-thread pool for 50-200 ms), and on a
   2-core machine a 2-thread engine next to it would get one core, which it never meets
   running alone;
2. one warm-up run, not counted (cold caches, this engine's threads waking up);
3. ``n`` counted runs, ``n`` chosen once per engine from its warm-up so that a block is
   about ``block_ms`` of work (between ``min_iters`` and ``max_iters``).

Each block gives one number, the median of its runs. An engine's time is the median of
its block medians; its ratio to another engine is the **median of the per-round ratios**
of their block medians (paired: both blocks ran seconds apart at most, so drift cancels),
with a bootstrap 95 % interval over the rounds. Timing one engine twice under two names
(a *control*) measures the noise band of the run itself: their paired ratio should be 1.

Example:
    >>> t = time_blocks({"a": lambda: None, "b": lambda: None}, rounds=3)
    >>> sorted(t.blocks)
    ['a', 'b']
    >>> lo, mid, hi = t.ratio("a", "b"); lo <= mid <= hi
    True
    >>> t.fastest(["a", "b"]) in ("a", "b")
    True
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Mapping

import numpy as np

from mge.runtime.settle import settle

#: seconds of pause before every block, at least, and the longest wait for the other
#: threads to go idle (every engine alike)
SETTLE_S = 0.003
SETTLE_CAP_S = 0.5
#: bootstrap resamples of the rounds for a ratio's interval
BOOTSTRAP = 2000


@dataclasses.dataclass
class BlockTiming:
    """Block medians per engine and round: ``blocks[engine][round] = (wall ms, CPU ms)``
    (``None`` where the engine did not run in that round); ``iters``: counted runs per
    block of each engine."""

    blocks: dict[str, list[tuple[float, float] | None]]
    iters: dict[str, int]
    #: seconds waited for idle threads before the blocks, and the waits cut at the cap
    waited: float = 0.0
    capped: int = 0

    def median(self, engine: str, col: int = 0) -> float:
        """The median of ``engine``'s block medians (``col`` 0: wall ms, 1: CPU ms)."""
        return statistics.median(b[col] for b in self.blocks[engine] if b is not None)

    def fastest(self, names: list[str] | tuple[str, ...], col: int = 0) -> str | None:
        """The fastest of ``names`` (those timed): the lowest paired ratio to the engine
        of the lowest median (by medians where they share no rounds); None if none."""
        timed = [k for k in names if k in self.blocks]
        if not timed:
            return None
        anchor = min(timed, key=lambda k: self.median(k, col))
        return min(timed, key=lambda k: self.ratio(k, anchor, col)[1])

    def pairs(self, engine: str, other: str, col: int = 0) -> np.ndarray:
        """Per-round ratios ``engine / other`` of the rounds both ran in."""
        return np.array([a[col] / b[col] for a, b in zip(self.blocks[engine],
                                                         self.blocks[other], strict=True)
                         if a is not None and b is not None and b[col] > 0])

    def ratio(self, engine: str, other: str, col: int = 0,
              seed: int = 0) -> tuple[float, float, float]:
        """(2.5 %, median, 97.5 %) of ``engine / other``: the median of the paired
        per-round ratios and its bootstrap interval; with no shared rounds (an engine
        timed in a phase of its own) the ratio of the two medians, interval nan."""
        pairs = self.pairs(engine, other, col)
        if pairs.size == 0:
            mid = self.median(engine, col) / self.median(other, col)
            return float("nan"), mid, float("nan")
        rng = np.random.default_rng(seed)
        boot = np.median(rng.choice(pairs, (BOOTSTRAP, pairs.size)), axis=1)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        return float(lo), float(np.median(pairs)), float(hi)


def _timed_run(run: Callable[[], object]) -> tuple[float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    run()
    return (time.perf_counter() - start) * 1e3, (time.process_time() - start_cpu) * 1e3


def _runner(run: Callable[[], object]) -> Callable[[int], list[tuple[float, float]]]:
    return lambda n: [_timed_run(run) for _ in range(n)]


def block_size(warm_ms: float, block_ms: float, min_iters: int, max_iters: int) -> int:
    """Counted runs per block for an engine whose warm-up run took ``warm_ms``."""
    return int(min(max_iters, max(min_iters, block_ms // max(warm_ms, 1e-3))))


def time_blocks(runs: Mapping[str, Callable[[], object]], rounds: int = 15,
                block_ms: float = 30.0, min_iters: int = 1, max_iters: int = 30,
                external: Mapping[str, Callable[[int], list[tuple[float, float]]]] | None
                = None) -> BlockTiming:
    """Time ``runs`` (engine -> one forward) in ``rounds`` interleaved rounds of blocks
    (module doc). ``external``: engines timed elsewhere (another process), called with
    the number of runs (warm-up included) and returning (wall ms, CPU ms) per run; they
    join the rounds like the others."""
    external = dict(external or {})
    names = [*runs, *external]
    blocks: dict[str, list[tuple[float, float] | None]] = {k: [] for k in names}
    iters: dict[str, int] = {}
    waited, capped = 0.0, 0
    rng = np.random.default_rng(0)
    for _ in range(rounds):
        for name in rng.permutation(names):
            time.sleep(SETTLE_S)
            wait = settle(SETTLE_CAP_S)
            waited += wait
            capped += wait >= SETTLE_CAP_S
            run = external.get(name) or _runner(runs[name])
            warm = run(1)[0]
            if name not in iters:  # the first block is sized by its warm-up run
                iters[name] = block_size(warm[0], block_ms, min_iters, max_iters)
            counted = run(iters[name])
            blocks[name].append((statistics.median(t[0] for t in counted),
                                 statistics.median(t[1] for t in counted)))
    return BlockTiming(blocks, iters, waited, capped)


def merge(*timings: BlockTiming) -> BlockTiming:
    """Timings of separate phases side by side (rounds of different phases never pair)."""
    width = sum(len(next(iter(t.blocks.values()), [])) for t in timings)
    blocks: dict[str, list[tuple[float, float] | None]] = {}
    iters: dict[str, int] = {}
    offset = 0
    for t in timings:
        n = len(next(iter(t.blocks.values()), []))
        for k, v in t.blocks.items():
            blocks[k] = [None] * offset + list(v) + [None] * (width - offset - n)
        iters.update(t.iters)
        offset += n
    return BlockTiming(blocks, iters, sum(t.waited for t in timings),
                       sum(t.capped for t in timings))


__all__ = ["BOOTSTRAP", "SETTLE_CAP_S", "SETTLE_S", "BlockTiming", "block_size", "merge",
           "time_blocks"]
