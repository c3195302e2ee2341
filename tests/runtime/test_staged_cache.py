"""The later stages of a staged model (MegEngine dumps with ``nms`` / ``cond_take``) are
read and planned once per (stage, given shapes, values the reading depended on): a run
whose counts were seen before reads nothing, and never gets another run's stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mge.runtime.plan import PlanOptions
from mge.runtime.staged import StageCache, StagedPlanCache
from mge.serialization.mge_staged import StagedModel

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "lite" / "dynamic" / "dynamic.npz"
with np.load(GOLDEN) as _z:
    ARRAYS = {k: _z[k] for k in _z.files}
META = json.loads(str(ARRAYS["__meta__"]))


def _cache(net: str) -> StagedPlanCache:
    staged = StagedModel.from_bytes(ARRAYS[f"{net}__file"].tobytes())
    return StagedPlanCache(staged, PlanOptions(backend="numpy"))


def _feeds(net: str, case: str, names: list[str]) -> list[np.ndarray]:
    return [ARRAYS[f"{net}__{case}__in__{n}"] for n in names]


@pytest.mark.parametrize("net", list(META))
def test_repeated_runs_read_no_stage(net: str) -> None:
    cache = _cache(net)
    plan = cache.plan()
    names = [v.name or "" for v in plan.inputs]
    for case in META[net]["cases"]:
        plan.run_feeds(_feeds(net, case, names))
    reads = cache.stages.reads
    assert reads >= 1
    for case in META[net]["cases"]:  # every count seen: the golden outputs, no reading
        outs = plan.run_feeds(_feeds(net, case, names))
        for k, got in enumerate(outs):
            want = ARRAYS[f"{net}__{case}__out__{k}"]
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
    assert cache.stages.reads == reads


@pytest.mark.parametrize("net", ["nms_filter", "cond_take", "detect_post"])
def test_cached_stages_equal_fresh_reads(net: str) -> None:
    """Random inputs (counts repeat and change): the cached run equals a run of a cache
    that has seen nothing, output for output."""
    rng = np.random.default_rng(3)
    cache = _cache(net)
    plan = cache.plan()
    names = [v.name or "" for v in plan.inputs]
    base = _feeds(net, META[net]["cases"][0], names)
    for _ in range(12):
        feeds = [(b + rng.normal(size=b.shape, scale=float(rng.choice([0.01, 1.0])))
                  ).astype(b.dtype) for b in base]
        got = plan.run_feeds(feeds)
        fresh = _cache(net)
        want = fresh.plan().run_feeds(feeds)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
    assert cache.stages.reads < 12 * (len(cache.staged.model.operators))


def test_stage_deps_name_the_values_read_as_params() -> None:
    """``nms``'s kept count becomes a slice bound: the count, not the kept indices nor
    the boxes, is what the stage after it depends on; ``cond_take`` depends on how
    many elements its mask selects."""
    cache = _cache("nms_filter")
    plan = cache.plan()
    names = [v.name or "" for v in plan.inputs]
    plan.run_feeds(_feeds("nms_filter", "random", names))
    stages = [stage for stage, _ in cache.stages._entries.values()]
    assert [s.start for s in stages] == sorted(s.start for s in stages)
    after_nms, after_filter = stages
    assert [v.size for v in after_nms.deps.values.values()] == [1]
    assert after_nms.deps.counts == ()
    assert after_filter.deps.values == {} and len(after_filter.deps.counts) == 1
    fid, op, count = after_filter.deps.counts[0]
    assert count > 0
    nothing = {fid: np.zeros(count, np.bool_) if op.selected(np.ones(1, np.bool_)).all()
               else np.ones(count, np.bool_)}
    assert not after_filter.deps.hold(nothing)


def test_the_cache_is_bounded() -> None:
    staged = StagedModel.from_bytes(ARRAYS["cond_take__file"].tobytes())
    cache = StagedPlanCache(staged, PlanOptions(backend="numpy"))
    cache.stages = StageCache(staged, cache.options, limit=3)
    plan = cache.plan()
    x = np.arange(35, dtype=np.float32).reshape(5, 7)
    for threshold in range(8):  # eight different selected counts
        values, _ = plan.run_feeds([x - 4 * threshold])
        np.testing.assert_array_equal(values, x[x - 4 * threshold > 0] - 4 * threshold)
    assert len(cache.stages) == 3 and cache.stages.reads == 8
    plan.run_feeds([x - 4 * 7])  # the latest count is still kept
    assert cache.stages.reads == 8
    plan.run_feeds([x])  # the first was dropped
    assert cache.stages.reads == 9
