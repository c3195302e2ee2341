"""fast-run's race: time candidate plans in interleaved bursts, compare them paired.

Small models run in well under a millisecond, and on a busy machine one run can take
several times its usual time, and the speed of everything drifts over seconds; the
differences between plan backends are often a few per cent. So the race:

* times what a network's steady forwards run (:func:`steady_run`: the plan's IO binding
  where it has one), not ``run_feeds``'s general path;
* runs the candidates in **rounds**: each round runs every candidate still racing once
  for a short **burst** (about :data:`BURST_MS` of work, at most :data:`MAX_BURST` runs)
  in an order shuffled every round (seeded), so that no candidate always follows the
  same one. A burst starts by waiting for the process's other threads to go
  idle (:func:`~.settle.settle`, at most :data:`SETTLE_CAP_S`): the previous
  candidate's thread pool spins after its runs (onnxruntime's 2-thread pool for 50-200
  ms), and on a 2-core machine a 2-thread run next to it gets one core, which never
  happens in use, where one library runs. Bursts grow to the mean wait (up to
  :data:`MAX_BURST_MS`), so that waiting costs at most about as much as the timed runs;
  after :data:`SETTLE_GIVE_UP` waits in a row that end at the cap (a thread of the
  process busy with other work) the race stops waiting and pauses :data:`SETTLE_S`.
  Then comes a run not counted (unless runs are over :data:`LONG_RUN_MS`): it follows
  another library's run, with cold caches and its own threads asleep, which a network
  run back to back never meets;
* keeps **one number per burst**, the median of its runs, and compares two candidates
  by the **median of their per-round ratios** (paired: their bursts ran milliseconds
  apart, so the machine's drift cancels, where a ratio of two overall statistics
  carries it). A candidate's score (ms) is the leader's median burst times that ratio
  to the leader (the leader: the lowest median burst);
* starts with :data:`WARM_ROUNDS` rounds of one run each, counted only while a
  candidate has no other runs (a first run over :data:`LONG_RUN_MS` is counted and ends
  the warm-up);
* after each round drops the candidates whose ratio to the leader is over the ratio of
  :data:`PRUNE_RULES` for the rounds they shared (4x after 3, 2x after 4, 1.3x after
  :data:`MIN_ROUNDS`): a few preempted bursts cannot drop a candidate. A candidate whose
  first run was over :data:`EXPENSIVE_RATIO` x the best and took over
  :data:`EXPENSIVE_SHARE` of the budget goes after round 1, or before it where the
  plans' untimed first runs and a second run say so (numpy's plan on a large model;
  a first run alone can carry one-time work);
* goes on until :data:`RUN_BUDGET_S` seconds of timed runs are spent with every racing
  candidate at :data:`MIN_ROUNDS` bursts (or all at :data:`ENOUGH_ROUNDS`); then, while a
  candidate is within :data:`CLOSE_RATIO` of the leader, the close ones alone race on
  up to :data:`CLOSE_OVERRUN` x the budget (a close call gets more evidence), and
  never past :data:`MAX_OVERRUN` x the budget (models of long runs);
* picks, among the candidates within :data:`TIE_RATIO` of the best score, the one first
  in preference order (float32 before a 16-bit precision, then the order ``"auto"``
  ranks the plan backends in): within the noise the simpler choice wins.

The candidates share the process, so one library's idle threads can still slow another's
runs: torch's OpenMP threads spin after its runs unless ``OMP_WAIT_POLICY=PASSIVE`` is
set before torch starts (``bench/lite.py`` sets it); without it OpenVINO's runs in the race
measured 1.4x their time on MobileNetV2 (a loaded machine).

Example:
    >>> race = time_candidates({"a": plan_a, "b": plan_b}, feeds)  # doctest: +SKIP
    >>> pick(race.scores, ["a", "b"])                              # doctest: +SKIP
    'a'
"""

from __future__ import annotations

import dataclasses
import functools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .settle import running_threads, settle

#: seconds of timed runs in all, before any close call's extension
RUN_BUDGET_S = 1.0
#: bursts per candidate after which it has enough: the race ends when all racing have
ENOUGH_ROUNDS = 60
#: counted bursts every racing candidate gets before the race ends (even past the
#: budget, up to MAX_OVERRUN x it), and the bursts it shares with the leader before
#: the last pruning ratio applies
MIN_ROUNDS = 5
MAX_OVERRUN = 3.0
#: past the budget, candidates within CLOSE_RATIO x the leader race on alone up to
#: CLOSE_OVERRUN x the budget
CLOSE_RATIO = 1.10
CLOSE_OVERRUN = 2.0
#: after round 1, a candidate over EXPENSIVE_RATIO x the best whose one run took over
#: EXPENSIVE_SHARE of the budget stops: it cannot win and would spend the budget
EXPENSIVE_RATIO = 2.5
EXPENSIVE_SHARE = 0.1
#: the work of one burst, about (ms), at least, and its most runs; bursts grow to the
#: mean wait for the other threads to settle, up to MAX_BURST_MS
BURST_MS = 6.0
MAX_BURST_MS = 50.0
MAX_BURST = 250
#: the longest wait (s) for the process's other threads to go idle before a burst; after
#: SETTLE_GIVE_UP waits in a row reach it, a fixed pause of SETTLE_S instead
SETTLE_CAP_S = 0.1
SETTLE_GIVE_UP = 3
SETTLE_S = 0.002
#: the first rounds, one run of each candidate: warm-up runs, counted only while a
#: candidate has no others (the fastest of them)
WARM_ROUNDS = 2
#: a first run longer than this (ms) is counted, and no more warm-up runs follow; bursts
#: of runs this long have no lead-in run
LONG_RUN_MS = 20.0
#: (bursts shared with the leader, ratio): a candidate over the ratio of the last rule
#: its shared bursts reach stops racing
PRUNE_RULES = ((3, 4.0), (4, 2.0), (MIN_ROUNDS, 1.3))
#: candidates within this x the best score are tied; the preferred one of them wins
TIE_RATIO = 1.02


@dataclasses.dataclass
class Race:
    """What a race measured.

    Attributes:
        scores: each candidate's score (ms: the leader's median burst times the
            candidate's paired ratio to the leader; see the module doc).
        runs: each candidate's counted run times (ms).
        rounds: the rounds run.
        seconds: wall time of the race.
        bursts: each candidate's burst medians (ms) by round.
        waited: seconds spent waiting for other threads to go idle (part of
            ``seconds``).
    """

    scores: dict[str, float]
    runs: dict[str, list[float]]
    rounds: int
    seconds: float
    bursts: dict[str, dict[int, float]] = dataclasses.field(default_factory=dict)
    waited: float = 0.0


def paired_ratio(a: Mapping[int, float], b: Mapping[int, float]) -> tuple[float, int]:
    """The median of ``a[r] / b[r]`` over the rounds both have, and how many there are
    (``nan, 0`` with none)."""
    shared = [a[r] / b[r] for r in a if r in b and b[r] > 0]
    return (float(np.median(shared)), len(shared)) if shared else (float("nan"), 0)


def scores_of(bursts: Mapping[str, Mapping[int, float]]) -> dict[str, float]:
    """Each candidate's score (ms) from its burst medians by round (module doc); a
    candidate that shared no round with the leader scores its own median burst."""
    typical = {k: float(np.median(list(v.values()))) for k, v in bursts.items() if v}
    if not typical:
        return {}
    leader = min(typical, key=typical.__getitem__)
    out = {}
    for k, own in typical.items():
        ratio, shared = paired_ratio(bursts[k], bursts[leader])
        out[k] = typical[leader] * ratio if shared else own
    return out


def steady_run(plan: Any, feeds: list[np.ndarray]) -> Callable[[], object]:
    """``plan`` run on ``feeds`` as a network's steady forwards run it
    (:mod:`mge.lite.fast_forward`): its IO binding (``Plan.io_binding``), bound once to
    ``feeds`` and output buffers of its own, where it has one, else its unchecked
    engine call (``Plan.unchecked``), else ``run_feeds``. Timing ``run_feeds`` instead
    charged each candidate its general path's Python around the engine, which the
    forwards do not pay and which differs by engine (OpenVINO's ``infer()`` dispatch
    ~20-30 us a run, onnxruntime's ~2 us): on sub-millisecond models a few per cent."""
    arrays = [np.ascontiguousarray(x) for x in feeds]
    make, unchecked = getattr(plan, "io_binding", None), getattr(plan, "unchecked", None)
    if unchecked is None:
        return functools.partial(plan.run_feeds, arrays)
    call, keys, output_keys = unchecked()
    binding = None
    if make is not None:
        try:
            binding = make([np.empty(v.shape, v.dtype) for v in plan.outputs])
            if binding is not None:
                for key, x in zip(keys, arrays, strict=True):
                    binding.bind(key, x)
        except Exception:  # noqa: BLE001  (the engine refuses a binding: none is timed)
            binding = None
    if binding is not None:
        return binding.run
    return functools.partial(call, output_keys, dict(zip(keys, arrays, strict=True)), None)


def _run_ms(run: Callable[[], object], synchronize: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    synchronize()
    return (time.perf_counter() - start) * 1e3


def _burst(run: Callable[[], object], synchronize: Callable[[], object], size: int,
           lead_in: bool) -> list[float]:
    """The times (ms) of ``size`` runs back to back, with ``lead_in`` after one run not
    counted (see the module doc)."""
    if lead_in:
        _run_ms(run, synchronize)
    return [_run_ms(run, synchronize) for _ in range(size)]


def _expensive(ms: Mapping[str, float], budget_s: float) -> set[str]:
    """The labels of ``ms`` (one run's ms each) over :data:`EXPENSIVE_RATIO` x the best
    that took over :data:`EXPENSIVE_SHARE` of the budget."""
    best = min(ms.values())
    return {k for k, v in ms.items()
            if v > EXPENSIVE_RATIO * best and v > EXPENSIVE_SHARE * budget_s * 1e3}


class _Settler:
    """The wait before each burst (module doc): for the other threads to go idle, until
    that keeps reaching the cap; then a fixed pause."""

    def __init__(self) -> None:
        self.waiting = running_threads() is not None
        self.capped, self.bursts, self.waited = 0, 0, 0.0

    def __call__(self) -> None:
        if self.waiting:
            waited = settle(SETTLE_CAP_S)
            self.capped = self.capped + 1 if waited >= SETTLE_CAP_S else 0
            self.waiting = self.capped < SETTLE_GIVE_UP
        else:
            time.sleep(SETTLE_S)
            waited = SETTLE_S
        self.bursts += 1
        self.waited += waited

    def burst_ms(self) -> float:
        """The work of the next burst (ms): the mean wait, within the bounds."""
        mean = self.waited * 1e3 / self.bursts if self.bursts else 0.0
        return min(MAX_BURST_MS, max(BURST_MS, mean))


def _prune_ratio(shared: int) -> float:
    """The pruning ratio for a candidate that shared ``shared`` bursts with the leader."""
    return min((ratio for n, ratio in PRUNE_RULES if shared >= n), default=float("inf"))


def _keep(bursts: Mapping[str, Mapping[int, float]], racing: list[str]) -> list[str]:
    """The racing candidates not pruned (``PRUNE_RULES``) against the racing leader."""
    scores = scores_of({k: bursts[k] for k in racing})
    if not scores:
        return racing
    leader = min(scores, key=scores.__getitem__)
    kept = []
    for k in racing:
        ratio, shared = paired_ratio(bursts[k], bursts[leader])
        if k == leader or not shared or ratio <= _prune_ratio(shared):
            kept.append(k)
    return kept


def time_candidates(plans: Mapping[str, Any], feeds: list[np.ndarray],
                    budget_s: float = RUN_BUDGET_S,
                    built_ms: Mapping[str, float] | None = None) -> Race:
    """Race ``plans`` (label -> plan, each already run once) on ``feeds`` (module doc).

    ``built_ms``: the time of each plan's untimed first run (by label); the expensive
    ones (see :data:`EXPENSIVE_RATIO`) run once more, and those still expensive are
    scored by their faster run and not raced.
    """
    start = time.perf_counter()
    steady = {k: (steady_run(plan, feeds), plan.backend.synchronize)
              for k, plan in plans.items()}
    built = dict(built_ms or {})
    for k in _expensive(built, budget_s) if built else ():
        # a first run may carry one-time work (OpenVINO's bfloat16 plan of MobileNetV2 at
        # batch 8: 202 ms, its runs after it 11 ms): a second run decides
        built[k] = min(built[k], _burst(*steady[k], 1, False)[0])
    skip = _expensive(built, budget_s) if built else set()
    first: dict[str, list[float]] = {k: [built[k]] for k in skip}
    runs: dict[str, list[float]] = {k: list(v) for k, v in first.items()}
    # round -1: a score not raced (an expensive candidate's first run)
    bursts: dict[str, dict[int, float]] = {k: {-1: v[0]} for k, v in first.items()}
    for k in plans:
        if k not in skip:
            runs[k], bursts[k] = [], {}
    racing = [k for k in plans if k not in skip]
    spent, round_, closing = 0.0, 0, False
    settler = _Settler()
    order = random.Random(0)
    while racing:
        for label in order.sample(racing, len(racing)):
            fastest = min(runs[label] + first.get(label, []), default=BURST_MS)
            warming = not runs[label] and len(first.setdefault(label, [])) < WARM_ROUNDS
            size = 1 if warming else \
                int(min(MAX_BURST, max(1, settler.burst_ms() // max(fastest, 1e-3))))
            settler()
            began = time.perf_counter()
            times = _burst(*steady[label], size, not warming and fastest < LONG_RUN_MS)
            spent += time.perf_counter() - began
            if warming:
                first[label] += times
            else:
                runs[label] += times
                bursts[label][round_] = float(np.median(times))
        round_ += 1
        for k in racing:  # a long first run is counted: warming up matters less than time
            if not runs[k] and len(first[k]) == 1 and first[k][0] > LONG_RUN_MS:
                runs[k], bursts[k][round_ - 1] = list(first[k]), first[k][0]
        if round_ == 1:
            costly = _expensive({k: min(first[k] + runs[k]) for k in racing}, budget_s)
            racing = [k for k in racing if k not in costly] or racing
        racing = _keep(bursts, racing)
        fewest = min(len(bursts[k]) for k in racing)
        if len(racing) == 1 or fewest >= ENOUGH_ROUNDS or spent >= MAX_OVERRUN * budget_s:
            break
        if spent >= budget_s and fewest >= MIN_ROUNDS:
            if closing and spent >= CLOSE_OVERRUN * budget_s:
                break
            scores = scores_of({k: bursts[k] for k in racing})
            best = min(scores.values())
            close = [k for k in racing if scores[k] <= CLOSE_RATIO * best]
            if len(close) == 1:
                break
            racing, closing = close, True
    for k in first:  # warm-up runs only (never counted): scored by the fastest
        if not bursts[k]:
            bursts[k] = {-1: min(first[k])}
    scores = scores_of({k: v for k, v in bursts.items() if -1 not in v})
    scores.update({k: v[-1] for k, v in bursts.items() if -1 in v})
    return Race(scores, {k: runs[k] or first[k] for k in bursts}, round_,
                time.perf_counter() - start, bursts, settler.waited)


def pick(scores: Mapping[str, float], preference: Sequence[str]) -> str:
    """The first label of ``preference`` whose score is within :data:`TIE_RATIO` of the
    best score (labels not in ``preference`` come last, fastest first)."""
    best = min(scores.values())
    tied = [k for k in scores if scores[k] <= TIE_RATIO * best]
    rank = {k: n for n, k in enumerate(preference)}
    return min(tied, key=lambda k: (rank.get(k, len(rank)), scores[k]))


__all__ = ["BURST_MS", "CLOSE_OVERRUN", "CLOSE_RATIO", "ENOUGH_ROUNDS", "EXPENSIVE_RATIO",
           "EXPENSIVE_SHARE", "LONG_RUN_MS", "MAX_BURST", "MAX_BURST_MS", "MAX_OVERRUN",
           "MIN_ROUNDS", "PRUNE_RULES", "RUN_BUDGET_S", "SETTLE_CAP_S", "SETTLE_GIVE_UP",
           "SETTLE_S", "TIE_RATIO", "WARM_ROUNDS", "Race", "paired_ratio", "pick",
           "scores_of", "steady_run", "time_candidates"]
