"""fast-run's race: bursts, warm-up runs, paired scores, pruning, the budget, close calls
and the tie-break."""

from __future__ import annotations

import numpy as np
import pytest

from mge.runtime import fast_run_timing as ft
from mge.runtime.fast_run_timing import paired_ratio, pick, scores_of, time_candidates


class Clock:
    """A fake ``time`` for the race: runs and pauses advance it, nothing else does, so
    the tests do not depend on the machine's load. ``speed(now)``: how many times its
    nominal time a run takes at ``now`` (s): the machine's drift."""

    def __init__(self) -> None:
        self.now = 0.0
        self.speed = lambda now: 1.0
        self.busy_until = 0.0  # other threads run (spin) until then
        self.spin = 0.0  # seconds other threads spin after each run

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The fake clock, and no other thread running (``Clock.busy``: seconds of the fake
    clock that other threads run after each run of a plan)."""
    fake = Clock()
    monkeypatch.setattr(ft, "time", fake)
    monkeypatch.setattr(ft, "running_threads", lambda: 0)

    def settle(timeout_s: float) -> float:
        waited = min(timeout_s, max(0.0, fake.busy_until - fake.now))
        fake.now += waited
        return waited

    monkeypatch.setattr(ft, "settle", settle)
    return fake


class _Backend:
    def synchronize(self) -> None:
        pass


class FakePlan:
    """A plan whose runs take ``ms`` on the fake clock; the first ``slow`` runs take 20x."""

    def __init__(self, ms: float, slow: int = 0) -> None:
        self.ms, self.slow, self.count = ms, slow, 0
        self.backend = _Backend()

    def run_feeds(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        self.count += 1
        clock = ft.time
        clock.now += clock.speed(clock.now) * self.ms * (
            20 if self.count <= self.slow else 1) / 1e3
        clock.busy_until = clock.now + clock.spin
        return []


def test_the_fastest_wins_and_the_slow_stop_racing() -> None:
    plans = {"fast": FakePlan(0.3), "close": FakePlan(0.45), "slow": FakePlan(10.0)}
    race = time_candidates(plans, [], budget_s=0.3)
    assert min(race.scores, key=race.scores.__getitem__) == "fast"
    assert race.seconds < 0.3 * ft.MAX_OVERRUN + 0.2
    # "slow" (33x) goes after the bursts the first pruning rule needs (one run each,
    # after a lead-in run)
    assert plans["slow"].count <= ft.WARM_ROUNDS + 2 * ft.PRUNE_RULES[0][0]
    assert len(race.runs["fast"]) >= len(race.runs["close"]) > 0


def test_slow_first_runs_are_warm_up_not_a_verdict() -> None:
    """A candidate whose first run is 20x slower (a thread pool starting) still wins."""
    plans = {"warming": FakePlan(0.3, slow=1), "steady": FakePlan(0.5)}
    race = time_candidates(plans, [], budget_s=0.2)
    assert min(race.scores, key=race.scores.__getitem__) == "warming"
    assert race.scores["warming"] == pytest.approx(0.3, rel=0.5)


def test_the_budget_bounds_the_race_and_long_runs_still_get_min_samples() -> None:
    plans = {"a": FakePlan(30.0), "b": FakePlan(31.0)}
    race = time_candidates(plans, [], budget_s=0.1)
    # 30 ms runs: counted from the first (no warm-up), at least MIN_ROUNDS bursts each
    assert all(len(v) >= ft.MIN_ROUNDS for v in race.bursts.values())
    assert race.seconds < 0.1 * ft.MAX_OVERRUN + 0.1


def test_an_expensive_candidate_is_not_raced() -> None:
    """Its first run and one more say it is expensive: it is scored by them, not raced."""
    plans = {"numpy": FakePlan(200.0), "engine": FakePlan(2.0)}
    race = time_candidates(plans, [], budget_s=0.2, built_ms={"numpy": 200.0, "engine": 2.5})
    assert plans["numpy"].count == 1 and race.scores["numpy"] == 200.0
    assert race.runs["numpy"] == [200.0]


def test_an_expensive_first_run_alone_does_not_skip_a_candidate() -> None:
    """A first run of one-time work (OpenVINO's bfloat16 plan: 202 ms, then 11 ms) is
    not a verdict: the second run is cheap, the candidate races, and wins."""
    plans = {"ov-bf16": FakePlan(1.0), "ort": FakePlan(2.0)}
    race = time_candidates(plans, [], budget_s=0.2, built_ms={"ov-bf16": 200.0, "ort": 2.5})
    assert min(race.scores, key=race.scores.__getitem__) == "ov-bf16"
    assert race.scores["ov-bf16"] == pytest.approx(1.0, rel=0.2)


def test_scores_are_paired_per_round_so_drift_cancels() -> None:
    """b is 10 % slower than a in every round while the machine's speed drifts 3x: the
    paired score says 1.1x, where overall medians of the drifting runs would not."""
    drift = [1.0, 3.0, 1.2, 2.8, 1.1, 3.2, 0.9]
    a = dict(enumerate(drift))
    b = {r: 1.1 * v for r, v in a.items()}
    b[7] = 2.9  # a round a did not run in: not compared
    ratio, shared = paired_ratio(b, a)
    assert (ratio, shared) == (pytest.approx(1.1), 7)
    scores = scores_of({"a": a, "b": b})
    assert scores["b"] / scores["a"] == pytest.approx(1.1)
    assert paired_ratio({0: 1.0}, {1: 1.0}) == (pytest.approx(float("nan"), nan_ok=True), 0)


def test_a_close_call_races_on_past_the_budget() -> None:
    """Two candidates within CLOSE_RATIO race on (up to CLOSE_OVERRUN x the budget); a
    clear winner ends the race at the budget."""
    close = time_candidates({"a": FakePlan(1.0), "b": FakePlan(1.05)}, [], budget_s=0.1)
    clear = time_candidates({"a": FakePlan(1.0), "b": FakePlan(1.6)}, [], budget_s=0.1)
    assert min(close.scores, key=close.scores.__getitem__) == "a"
    assert min(clear.scores, key=clear.scores.__getitem__) == "a"
    # wall time: the timed runs plus a pause before each burst (SETTLE_S, ~1/3 of one)
    assert 0.1 * 1.5 < close.seconds < 0.1 * ft.CLOSE_OVERRUN * 1.5
    assert clear.seconds < 0.1 * 1.5


def drift(seed: int, mean_s: float = 0.03) -> object:
    """A machine speed that jumps between 1x and 3x at random times (other load coming
    and going, on average every ``mean_s`` seconds)."""
    rng = np.random.default_rng(seed)
    edges = np.cumsum(rng.exponential(mean_s, 2000))
    levels = rng.uniform(1.0, 3.0, edges.size + 1)
    return lambda now: float(levels[np.searchsorted(edges, now)])


def test_a_drifting_machine_does_not_flip_the_pick(clock: Clock) -> None:
    """b is 8 % slower than a in every run while the machine's speed jumps between 1x and
    3x: the paired scores still see about 1.08x, and a wins every time."""
    for seed in range(8):
        clock.speed = drift(seed)
        race = time_candidates({"a": FakePlan(1.0), "b": FakePlan(1.08)}, [])
        assert min(race.scores, key=race.scores.__getitem__) == "a"
        assert race.scores["b"] / race.scores["a"] == pytest.approx(1.08, rel=0.04)


def test_ties_go_to_the_preferred_candidate() -> None:
    preference = ["onnxruntime-float32", "torch-float32", "torch-bfloat16"]
    assert pick({"torch-float32": 1.0, "onnxruntime-float32": 1.015}, preference) == \
        "onnxruntime-float32"
    assert pick({"torch-float32": 1.0, "onnxruntime-float32": 1.05}, preference) == \
        "torch-float32"
    assert pick({"torch-bfloat16": 0.9, "torch-float32": 0.91}, preference) == \
        "torch-float32"
    assert pick({"other": 1.0, "torch-float32": 1.5}, preference) == "other"


def test_bursts_wait_for_spinning_threads_and_grow_with_the_wait(clock: Clock) -> None:
    """Each run leaves other threads spinning for 40 ms (onnxruntime's pool): every burst
    waits for them, and bursts grow to about the wait, so the race's wall time stays
    within about twice its timed runs."""
    clock.spin = 0.04
    race = time_candidates({"a": FakePlan(1.0), "b": FakePlan(1.5)}, [], budget_s=0.5)
    assert min(race.scores, key=race.scores.__getitem__) == "a"
    assert race.waited > 0.04 * race.rounds
    assert race.seconds < 2.5 * (race.seconds - race.waited)
    assert max(len(v) for v in race.runs.values()) > 20  # ~40 ms bursts of 1 ms runs


def test_a_thread_busy_for_good_stops_the_waiting(clock: Clock) -> None:
    """A thread of the process that never idles (the user's own work): after
    SETTLE_GIVE_UP waits at the cap the race pauses SETTLE_S instead."""
    clock.spin = 1e9
    race = time_candidates({"a": FakePlan(1.0), "b": FakePlan(1.5)}, [], budget_s=0.2)
    assert race.waited < (ft.SETTLE_GIVE_UP + 1) * ft.SETTLE_CAP_S + 0.1



class BoundPlan(FakePlan):
    """A fake plan with an IO binding (``Plan.io_binding``): its general path
    (``run_feeds``) costs ``overhead_ms`` more than a bound run."""

    def __init__(self, ms: float, overhead_ms: float) -> None:
        super().__init__(ms)
        self.overhead_ms, self.bound_runs, self.bound = overhead_ms, 0, {}
        self.outputs: list = []

    def run_feeds(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        ft.time.now += self.overhead_ms / 1e3
        return super().run_feeds(feeds)

    def unchecked(self) -> tuple:
        return self.run_feeds, ["in0"], []

    def io_binding(self, outputs: list[np.ndarray]) -> object:
        plan = self

        class Binding:
            def bind(self, key: str, array: np.ndarray) -> None:
                plan.bound[key] = array

            def run(self) -> None:
                plan.bound_runs += 1
                FakePlan.run_feeds(plan, [])

        return Binding()


def test_the_race_times_what_steady_forwards_run() -> None:
    """A plan's bound run is timed, not its general path: a plan slower only by its
    general path's overhead wins, and its binding holds the race's inputs."""
    bound, plain = BoundPlan(0.30, overhead_ms=0.05), FakePlan(0.32)
    x = np.zeros(3, np.float32)
    race = time_candidates({"bound": bound, "plain": plain}, [x], budget_s=0.2)
    assert min(race.scores, key=race.scores.__getitem__) == "bound"
    assert bound.bound_runs > 0 and bound.count == bound.bound_runs  # no general runs
    np.testing.assert_array_equal(bound.bound["in0"], x)
