"""bench/block_timing.py and bench/lite_report.py: the same treatment for every engine,
paired ratios that cancel the machine's drift, the control's noise band, the tables."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import block_timing as bt  # noqa: E402
import lite_report  # noqa: E402


class Clock:
    """A fake ``time``: runs and pauses advance it; ``speed(now)`` is the machine's drift
    (how many times its nominal time a run takes)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.speed = lambda now: 1.0

    def perf_counter(self) -> float:
        return self.now

    def process_time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(bt, "time", fake)
    monkeypatch.setattr(bt, "settle", lambda timeout_s: 0.0)
    return fake


def engine(clock: Clock, ms: float, calls: list[str] | None = None, name: str = ""):
    def run() -> None:
        clock.now += clock.speed(clock.now) * ms / 1e3
        if calls is not None:
            calls.append(name)
    return run


def drift(seed: int) -> object:
    """Speed jumping between 1x and 3x at random times, every 50 ms on average."""
    rng = np.random.default_rng(seed)
    edges = np.cumsum(rng.exponential(0.05, 5000))
    levels = rng.uniform(1.0, 3.0, edges.size + 1)
    return lambda now: float(levels[np.searchsorted(edges, now)])


def test_every_engine_gets_the_same_blocks(clock: Clock) -> None:
    calls: list[str] = []
    runs = {k: engine(clock, ms, calls, k) for k, ms in (("a", 1.0), ("b", 10.0))}
    timing = bt.time_blocks(runs, rounds=4, block_ms=20.0, max_iters=30)
    # a warm-up run and block_ms of runs each block: a 20 runs, b 2
    assert timing.iters == {"a": 20, "b": 2}
    assert calls.count("a") == 4 * 21 and calls.count("b") == 4 * 3
    assert all(len(v) == 4 for v in timing.blocks.values())
    assert timing.median("a") == pytest.approx(1.0) and timing.median("b") == pytest.approx(10)


def test_paired_ratios_resolve_three_percent_on_a_drifting_machine(clock: Clock) -> None:
    """b is 3 % slower in every run while the machine's speed swings 1x-3x: the paired
    ratio sees 1.03 (its interval leaves out 1 in most runs: a block pair that straddles
    a jump is an outlier); the control (a again) sees 1, inside its interval."""
    resolved = 0
    for seed in range(8):
        clock.speed = drift(seed)
        runs = {"a": engine(clock, 1.0), "b": engine(clock, 1.03),
                "control": engine(clock, 1.0)}
        timing = bt.time_blocks(runs, rounds=20, block_ms=10.0)
        lo, mid, hi = timing.ratio("b", "a")
        assert mid == pytest.approx(1.03, rel=0.005)
        resolved += lo > 1.0
        lo, mid, hi = timing.ratio("control", "a")
        assert lo <= 1.0 <= hi and mid == pytest.approx(1.0, rel=0.005)
        assert timing.fastest(["b", "a"]) == "a"
    assert resolved >= 6


def test_phases_do_not_pair(clock: Clock) -> None:
    one = bt.time_blocks({"own": engine(clock, 2.0)}, rounds=3)
    two = bt.time_blocks({"a": engine(clock, 1.0)}, rounds=3)
    both = bt.merge(one, two)
    assert both.blocks["own"][3:] == [None] * 3 and both.blocks["a"][:3] == [None] * 3
    lo, mid, hi = both.ratio("own", "a")
    assert mid == pytest.approx(2.0) and math.isnan(lo) and math.isnan(hi)


def test_external_engines_join_the_rotation(clock: Clock) -> None:
    asked: list[int] = []

    def worker(n: int) -> list[tuple[float, float]]:
        asked.append(n)
        clock.now += n * 5e-3
        return [(5.0, 4.0)] * n

    timing = bt.time_blocks({"a": engine(clock, 1.0)}, rounds=2, block_ms=10.0,
                            external={"w": worker})
    assert asked == [1, 2, 1, 2]  # warm-up run, then block_ms of runs (2 x 5 ms)
    assert timing.median("w") == 5.0 and timing.median("w", 1) == 4.0


def test_report_rows_summary_and_noise_band() -> None:
    blocks = {"onnxruntime": [(2.0, 2.0), (4.0, 4.0), (2.2, 2.2)],
              lite_report.CONTROL: [(2.0, 2.0), (4.0, 4.0), (2.2, 2.2)],
              "mge-auto": [(2.1, 2.0), (4.2, 4.0), (2.31, 2.2)],
              "pytorch": [(3.0, 3.0), (6.0, 6.0), (3.3, 3.3)]}
    timing = bt.BlockTiming(blocks, {k: 1 for k in blocks})
    out = np.ones(3)
    results = {k: (out, 10.0, 9.0) for k in blocks}
    rows = lite_report.case_rows(["m", 1, 1], timing, results, {})
    by = {r[3]: r for r in rows}
    assert by["mge-auto"][5] == pytest.approx(1.05) and by["pytorch"][5] == pytest.approx(1.5)
    assert lite_report.noise_band(timing) == "1.000 [1.000, 1.000]"
    summary = lite_report.summary_row(["m", 1, 1], timing,
                                      {k: (10.0, 9.0) for k in blocks})
    assert summary[3] == "onnxruntime" and summary[5] == pytest.approx(1.05)
    assert lite_report.slower_with_more_threads(
        [["m", 1, 1, "e", 2.0], ["m", 1, 2, "e", 2.5]]) == [
        "m batch 1 e: 2.50 ms at 2 threads > 2.00 ms at 1"]
