"""Fast-run in mge.lite: ``LITE_ALGO_PROFILE`` chooses the plan backend at load, the
choice goes through ``LiteGlobal``'s persistent cache, a corrupt cache file is refused,
and the results are the numpy plan's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mge.lite import LiteAlgoSelectStrategy, LiteConfig, LiteGlobal, LiteNetwork, LiteValueError
from mge.lite.persistent_cache import PERSISTENT_CACHE, PersistentCache
from mge.runtime.fast_run import CACHE_CATEGORY

from .conftest import image
from .running import lite_outputs

PROFILE = LiteAlgoSelectStrategy.LITE_ALGO_PROFILE


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Each test starts with an empty process cache; the old one comes back after."""
    saved, path = PersistentCache(), LiteGlobal._cache_path
    saved.merge(PERSISTENT_CACHE)
    PERSISTENT_CACHE.replace(PersistentCache())
    LiteGlobal._cache_path = None
    yield
    PERSISTENT_CACHE.replace(saved)
    LiteGlobal._cache_path = path


def _network(path: Path, policy: int = PROFILE, threads: int = 1) -> LiteNetwork:
    network = LiteNetwork(LiteConfig())
    network.threads_number = threads
    network.set_network_algo_policy(policy)
    network.load(str(path))
    return network


def _run(network: LiteNetwork, x: np.ndarray) -> dict[str, np.ndarray]:
    network.get_io_tensor("data").set_data_by_copy(x)
    network.forward()
    network.wait()
    return {n: network.get_io_tensor(n).to_numpy() for n in network.get_all_output_name()}


def test_profile_picks_a_backend_that_gives_the_numpy_results(small_model: Path,
                                                              tmp_path: Path) -> None:
    network = _network(small_model)
    chosen = network.fast_run
    assert chosen is not None and not chosen.from_cache and chosen.seconds > 0
    assert chosen.backend in {k.split("-")[0] for k in chosen.timings_ms}
    assert network.plan.backend.name == chosen.backend
    x = image()
    want = lite_outputs(small_model, {"data": x}, "numpy")
    for name, got in _run(network, x).items():
        np.testing.assert_allclose(got, want[name], atol=1e-5, rtol=1e-4)
    network.get_static_memory_alloc_info(str(tmp_path))
    report = json.loads((tmp_path / "StaticMemoryInfo.json").read_text())
    assert report["fast_run"]["backend"] == chosen.backend


def test_the_cache_file_carries_the_choice_and_a_hit_skips_timing(small_model: Path,
                                                                   tmp_path: Path) -> None:
    first = _network(small_model).fast_run
    cache_file = tmp_path / "fastrun.cache"
    LiteGlobal.dump_persistent_cache(str(cache_file))
    PERSISTENT_CACHE.replace(PersistentCache())
    LiteGlobal.set_persistent_cache(str(cache_file))
    again = _network(small_model).fast_run
    assert again.from_cache and again.timings_ms == {}
    assert (again.backend, again.compute_dtype) == (first.backend, first.compute_dtype)
    # plan_backend "auto" takes a cached choice without a profile policy too
    heuristic = _network(small_model, LiteAlgoSelectStrategy.LITE_ALGO_HEURISTIC).fast_run
    assert heuristic.from_cache and heuristic.backend == first.backend
    # another thread count is another key: the heuristic policy does not time
    assert _network(small_model, LiteAlgoSelectStrategy.LITE_ALGO_HEURISTIC,
                    threads=2).fast_run is None


def test_always_sync_writes_each_new_choice(small_model: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "sync.cache"
    LiteGlobal.set_persistent_cache(str(cache_file), always_sync=True)
    chosen = _network(small_model).fast_run
    on_disk = PersistentCache.from_bytes(cache_file.read_bytes())
    (value,) = on_disk.categories[CACHE_CATEGORY].values()
    assert json.loads(value)["backend"] == chosen.backend


def test_a_corrupt_cache_file_is_refused_and_ignored(small_model: Path,
                                                     tmp_path: Path) -> None:
    _network(small_model)
    before = PERSISTENT_CACHE.to_bytes()
    bad = tmp_path / "bad.cache"
    bad.write_bytes(before[:-5])
    with pytest.raises(LiteValueError, match="bad.cache: persistent cache truncated"):
        LiteGlobal.set_persistent_cache(str(bad), always_sync=True)
    assert PERSISTENT_CACHE.to_bytes() == before and LiteGlobal._cache_path is None
    assert _network(small_model).fast_run.from_cache  # the process's cache still serves


def test_a_named_backend_is_not_second_guessed(small_model: Path) -> None:
    config = LiteConfig()
    config.plan_backend = "numpy"
    network = LiteNetwork(config)
    network.set_network_algo_policy(PROFILE)
    network.load(str(small_model))
    assert network.fast_run is None and network.plan.backend.name == "numpy"
    assert CACHE_CATEGORY not in PERSISTENT_CACHE.categories


def test_profile_set_after_load_chooses_then(small_model: Path) -> None:
    network = _network(small_model, LiteAlgoSelectStrategy.LITE_ALGO_HEURISTIC)
    assert network.fast_run is None
    network.set_network_algo_policy(PROFILE | LiteAlgoSelectStrategy.LITE_ALGO_REPRODUCIBLE)
    assert network.fast_run is not None and network.plan.backend.name == network.fast_run.backend
    x = image(seed=3)
    want = lite_outputs(small_model, {"data": x}, "numpy")
    for name, got in _run(network, x).items():
        np.testing.assert_allclose(got, want[name], atol=1e-5, rtol=1e-4)


def test_choices_persist_in_the_default_file_across_processes(
        small_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mge.lite import fast_run_disk

    path = tmp_path / "home" / "fast_run.cache"
    monkeypatch.setenv(fast_run_disk.ENV_PATH, str(path))
    first = _network(small_model).fast_run
    assert first is not None and not first.from_cache and path.exists()
    code = ("import sys\n"
            "from mge.lite import LiteAlgoSelectStrategy, LiteConfig, LiteNetwork\n"
            "n = LiteNetwork(LiteConfig())\n"
            "n.set_network_algo_policy(LiteAlgoSelectStrategy.LITE_ALGO_PROFILE)\n"
            "n.load(sys.argv[1])\n"
            "print(n.fast_run.from_cache, n.fast_run.backend)\n")
    done = subprocess.run([sys.executable, "-c", code, str(small_model)], check=True,
                          capture_output=True, text=True, timeout=600)
    assert done.stdout.split() == ["True", first.backend]  # a new process: no timing
    # plain "auto" (no profiling) takes the stored choice too
    PERSISTENT_CACHE.replace(PersistentCache())
    auto = _network(small_model, policy=LiteAlgoSelectStrategy.LITE_ALGO_HEURISTIC)
    assert auto.fast_run is not None and auto.fast_run.from_cache
    stored = PersistentCache.from_bytes(path.read_bytes())
    assert set(stored.categories) == {CACHE_CATEGORY}


def test_the_default_file_is_off_with_a_synced_cache_or_when_disabled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mge.lite import fast_run_disk

    monkeypatch.setenv(fast_run_disk.ENV_PATH, "0")
    assert fast_run_disk.default_cache_path() is None
    monkeypatch.delenv(fast_run_disk.ENV_PATH)
    monkeypatch.setenv("MGE_HOME", str(tmp_path))
    assert fast_run_disk.default_cache_path() == str(tmp_path / "lite" / "fast_run.cache")
    LiteGlobal.set_persistent_cache(str(tmp_path / "mine.cache"), always_sync=True)
    assert fast_run_disk.default_cache_path() is None
