"""The load cache: entries written by a first load, used by later ones, ignored when
damaged or stale, never used for packed or encrypted models, off on request."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.lite import LiteConfig, LiteNetwork
from mge.lite.cached_plan import LazyPlanCache
from mge.lite.entry_writer import wait_writes
from mge.lite.load_cache import Entry, entry_key, read_entry, write_entry

pytest.importorskip("onnxruntime")


class WideNet(M.Module):
    """conv-bn-relu, residual depthwise conv, pool, FC: weights over 1 KiB, which the
    plan passes to onnxruntime as arrays (the entry's weights file)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 32, 3, padding=1, bias=False)
        self.bn = M.BatchNorm2d(32)
        self.dw = M.Conv2d(32, 32, 3, padding=1, groups=32)
        self.fc = M.Linear(32, 10)

    def forward(self, x: mge.Tensor) -> dict[str, mge.Tensor]:
        x = F.relu(self.bn(self.conv(x)))
        x = F.relu(self.dw(x) + x)
        logits = self.fc(F.flatten(F.avg_pool2d(x, x.shape[2:]), 1))
        return {"logits": logits, "prob": F.softmax(logits, 1)}


def wide_model(make_model: object, seed: int) -> Path:
    """A fresh dump of a seeded :class:`WideNet` (conv+bias+relu fused, as plans run it)."""
    mge.random.seed(seed)
    net = WideNet()
    net.eval()
    return make_model(net, (1, 3, 8, 8), enable_fuse_conv_bias_nonlinearity=True)


@pytest.fixture(scope="module")
def small_model(make_model: object) -> Path:
    return wide_model(make_model, 11)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "load_cache"
    monkeypatch.setenv("MGE_LOAD_CACHE", str(folder))
    return folder


def load(path: Path | bytes, threads: int = 1, **config: object) -> LiteNetwork:
    cfg = LiteConfig()
    cfg.plan_backend = "onnxruntime"
    for k, v in config.items():
        setattr(cfg, k, v)
    net = LiteNetwork(cfg)
    net.threads_number = threads
    net.load(path)
    assert wait_writes(timeout=60)  # the entry is written in the background
    return net


def run(net: LiteNetwork, x: np.ndarray) -> dict[str, np.ndarray]:
    net.get_io_tensor("data").set_data_by_copy(x)
    net.forward()
    net.wait()
    return {n: net.get_io_tensor(n).to_numpy() for n in net.get_all_output_name()}


def entries(folder: Path) -> list[Path]:
    """The metadata files of the entries in ``folder``."""
    return sorted(folder.glob("*/meta.json"))


def largest(folder: Path) -> Path:
    """The largest file of an entry's folder (its weights)."""
    return max((p for p in folder.iterdir() if p.name != "meta.json"),
               key=lambda p: p.stat().st_size)


X = np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)


def test_second_load_uses_the_entry_bit_identical(small_model: Path, cache_dir: Path) -> None:
    first = load(small_model)
    assert type(first._cache).__name__ == "PlanCache"
    assert len(entries(cache_dir)) == 1
    second = load(small_model)
    assert isinstance(second._cache, LazyPlanCache)
    assert second._cache._real is None  # nothing parsed
    assert second.get_all_input_name() == first.get_all_input_name()
    assert second.get_all_output_name() == first.get_all_output_name()
    for name in first.get_all_output_name():
        a, b = first.get_io_tensor(name), second.get_io_tensor(name)
        assert a.layout.shapes == b.layout.shapes and a.layout.data_type == b.layout.data_type
    out1, out2 = run(first, X), run(second, X)
    for name in out1:
        assert np.array_equal(out1[name], out2[name]), name
    assert second._cache._real is None  # running parsed nothing either
    # loading bytes of the same file finds the same entry
    assert isinstance(load(small_model.read_bytes())._cache, LazyPlanCache)


def test_cached_network_parses_on_demand(small_model: Path, cache_dir: Path) -> None:
    load(small_model)
    net = load(small_model)
    assert isinstance(net._cache, LazyPlanCache)
    x4 = np.concatenate([X] * 4)
    ref = run(load(small_model, load_cache=False), X)
    net.get_io_tensor("data").set_data_by_copy(x4)  # another shape: the model is parsed
    net.forward()
    net.wait()
    assert net._cache._real is not None
    out = net.get_io_tensor("logits").to_numpy()
    np.testing.assert_allclose(out, np.concatenate([ref["logits"]] * 4), rtol=1e-5, atol=1e-6)
    assert net._model_graph.inputs[0].name == "data"


def test_settings_are_part_of_the_key(small_model: Path, cache_dir: Path) -> None:
    load(small_model, threads=1)
    load(small_model, threads=2)
    assert len(entries(cache_dir)) == 2
    assert isinstance(load(small_model, threads=2)._cache, LazyPlanCache)
    assert entry_key(b"a", {"threads": 1}) != entry_key(b"a", {"threads": 2})
    assert entry_key(b"a", {"threads": 1}) != entry_key(b"b", {"threads": 1})


@pytest.mark.parametrize("damage", ["truncate-weights", "garbage-json", "garbage-model",
                                    "other-engine", "bad-file-name", "empty-json"])
def test_damaged_or_stale_entries_are_rebuilt(small_model: Path, cache_dir: Path,
                                              damage: str) -> None:
    ref = run(load(small_model), X)
    (meta_path,) = entries(cache_dir)
    meta = json.loads(meta_path.read_text())
    weights = largest(meta_path.parent)
    assert weights.stat().st_size > 1024 and meta["saved"]  # onnxruntime's optimized model
    if damage == "truncate-weights":
        weights.write_bytes(weights.read_bytes()[:weights.stat().st_size // 2])
    elif damage == "garbage-json":
        meta_path.write_text("{not json")
    elif damage == "garbage-model":
        model = meta_path.parent / "ort.onnx"
        model.write_bytes(b"\xff" * model.stat().st_size)
    elif damage == "other-engine":
        meta["engine"]["onnxruntime"] = "0.0.1"
        meta_path.write_text(json.dumps(meta))
    elif damage == "bad-file-name":
        meta["files"]["../outside"] = [0, ""]
        meta_path.write_text(json.dumps(meta))
    else:
        meta_path.write_text("")
    net = load(small_model)  # the entry is not used: loaded as usual, entry written again
    assert type(net._cache).__name__ == "PlanCache"
    out = run(net, X)
    for name in ref:
        assert np.array_equal(ref[name], out[name]), name
    again = load(small_model)
    assert isinstance(again._cache, LazyPlanCache)
    for name, value in run(again, X).items():
        assert np.array_equal(ref[name], value), name


def test_off_by_config_and_by_env(small_model: Path, cache_dir: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    load(small_model, load_cache=False)
    assert not cache_dir.exists()
    monkeypatch.setenv("MGE_LOAD_CACHE", "0")
    load(small_model)
    load(small_model)
    assert not cache_dir.exists()


def test_encrypted_models_are_not_cached(small_model: Path, cache_dir: Path) -> None:
    from mge.lite.rc4 import rc4_encrypt

    ref = run(load(small_model, load_cache=False), X)
    for _ in range(2):
        net = load(rc4_encrypt(small_model.read_bytes()),
                   bare_model_cryption_name="RC4_default")
        assert type(net._cache).__name__ == "PlanCache"
        out = run(net, X)
        assert np.array_equal(out["logits"], ref["logits"])
    assert not cache_dir.exists()


def test_write_refuses_object_weights(cache_dir: Path) -> None:
    entry = Entry({"backend": "onnxruntime"}, b"model", {"w": np.array([object()])})
    assert not write_entry("k" * 64, entry)
    assert read_entry("k" * 64) is None
    plain = Entry({"backend": "onnxruntime"}, b"model",
                  {"w": np.arange(6, dtype=np.float32).reshape(2, 3),
                   "b": np.array([1, 2], np.int64)})
    assert write_entry("a" * 64, plain)
    back = read_entry("a" * 64)
    assert back is not None and back.model == b"model" and back.saved is None
    np.testing.assert_array_equal(back.weights["w"], plain.weights["w"])
    np.testing.assert_array_equal(back.weights["b"], plain.weights["b"])
    assert not list(cache_dir.glob(".*"))  # no temporary folder left
    # a table naming an object dtype is refused on reading (nothing is unpickled)
    meta_path = cache_dir / ("a" * 64) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["weights"][0][1] = "|O"
    meta_path.write_text(json.dumps(meta))
    assert read_entry("a" * 64) is None


def test_an_unchanged_file_is_not_read_again(small_model: Path, cache_dir: Path,
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from mge.lite import cached_load

    path = tmp_path / "model.mge"
    path.write_bytes(small_model.read_bytes())
    ref = run(load(path), X)
    assert len(list(cache_dir.glob("*.path"))) == 1 and len(entries(cache_dir)) == 1
    reads = []
    real_read = cached_load.read_model_bytes
    monkeypatch.setattr(cached_load, "read_model_bytes",
                        lambda f: reads.append(f) or real_read(f))
    net = load(path)
    assert isinstance(net._cache, LazyPlanCache) and reads == []
    assert np.array_equal(run(net, X)["logits"], ref["logits"])
    # the graph, asked for later, comes from the file, which must still hold those bytes
    assert net._model_graph.inputs[0].name == "data" and len(reads) == 1
    # a file with other bytes (and so another identity) is not taken for the old one
    other = load(path)
    path.write_bytes(b"\0" + small_model.read_bytes()[1:])
    os.utime(path, ns=(1, 1))
    with pytest.raises(Exception, match="changed on disk|cannot load"):
        other._model_graph  # noqa: B018
    with pytest.raises(Exception, match="cannot load"):
        load(path)


def test_verify_reads_and_hashes_every_time(small_model: Path, cache_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    load(small_model)  # no digests recorded: verifying refuses the entry, rewrites it
    monkeypatch.setenv("MGE_LOAD_CACHE_VERIFY", "1")
    assert type(load(small_model)._cache).__name__ == "PlanCache"
    assert isinstance(load(small_model)._cache, LazyPlanCache)  # digests check out
    (meta_path,) = entries(cache_dir)
    weights = largest(meta_path.parent)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the weights: only the digest shows it
    weights.write_bytes(bytes(data))
    net = load(small_model)
    assert type(net._cache).__name__ == "PlanCache"


def test_configured_io_is_part_of_the_entry(small_model: Path, cache_dir: Path) -> None:
    from mge.lite import LiteLayout, LiteNetworkIO

    def configured() -> LiteNetwork:
        io = LiteNetworkIO()
        io.add_input("data", layout=LiteLayout([4, 3, 8, 8], "float32"))
        io.add_output("logits")
        cfg = LiteConfig()
        cfg.plan_backend = "onnxruntime"
        net = LiteNetwork(cfg, io)
        net.load(small_model)
        assert wait_writes(timeout=60)
        return net

    x4 = np.concatenate([X] * 4)
    first = configured()
    second = configured()
    assert isinstance(second._cache, LazyPlanCache) and second._cache._real is None
    assert second.get_all_output_name() == ["logits"] == first.get_all_output_name()
    assert second.get_io_tensor("data").layout.shapes == [4, 3, 8, 8]
    assert np.array_equal(run(first, x4)["logits"], run(second, x4)["logits"])
    assert second._cache._real is None
    plain_load = load(small_model)  # no IO configured: another entry
    assert type(plain_load._cache).__name__ == "PlanCache"


def test_fast_run_choice_comes_with_the_entry(small_model: Path, cache_dir: Path,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from mge.lite import LiteAlgoSelectStrategy
    from mge.lite.persistent_cache import PERSISTENT_CACHE, PersistentCache

    monkeypatch.setenv("MGE_FAST_RUN_CACHE", str(tmp_path / "fast_run.cache"))
    saved = PersistentCache()
    saved.replace(PERSISTENT_CACHE)
    try:
        def profiled() -> LiteNetwork:
            net = LiteNetwork(LiteConfig())
            net.set_network_algo_policy(LiteAlgoSelectStrategy.LITE_ALGO_PROFILE)
            net.load(small_model)
            assert wait_writes(timeout=60)
            return net

        first = profiled()
        assert first.fast_run is not None and not first.fast_run.from_cache
        second = profiled()
        assert second.fast_run is not None and second.fast_run.from_cache
        assert second.fast_run.backend == first.fast_run.backend
        if first.fast_run.backend in ("onnxruntime", "openvino"):
            assert isinstance(second._cache, LazyPlanCache)
        assert np.allclose(run(first, X)["logits"], run(second, X)["logits"], atol=1e-6)
    finally:
        PERSISTENT_CACHE.replace(saved)


def test_openvino_entries_keep_the_onnx_form(small_model: Path, cache_dir: Path) -> None:
    pytest.importorskip("openvino")
    first = load(small_model, plan_backend="openvino")
    (meta_path,) = entries(cache_dir)
    assert {"model.onnx", "weights.bin"} <= {p.name for p in meta_path.parent.iterdir()}
    second = load(small_model, plan_backend="openvino")
    assert isinstance(second._cache, LazyPlanCache)
    out1, out2 = run(first, X), run(second, X)
    for name in out1:
        assert np.array_equal(out1[name], out2[name]), name


def test_a_first_load_waits_for_no_digest(small_model: Path, cache_dir: Path, make_model: object,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from mge.lite import cached_load

    waited: list[str] = []
    hashed: list[str] = []
    real_digest, real_hashing = cached_load.Miss.digest, cached_load._Hashing.__init__
    monkeypatch.setattr(cached_load.Miss, "digest",
                        lambda self: waited.append(threading.current_thread().name)
                        or real_digest(self))
    monkeypatch.setattr(cached_load._Hashing, "__init__",
                        lambda self, data: hashed.append("thread")
                        or real_hashing(self, data))
    data = small_model.read_bytes()
    ref = run(load(data), X)  # no marker for its probe: the digest is only the writer's
    assert waited == ["mge-load-cache-writer"] and len(list(cache_dir.glob("*.probe"))) == 1
    assert hashed == []  # and no thread hashed the bytes during the load
    waited.clear()
    second = load(data)  # a marker: hashed while parsed, the full key looked up
    assert isinstance(second._cache, LazyPlanCache) and waited == ["MainThread"]
    assert hashed == ["thread"]
    for marker in cache_dir.glob("*.probe"):
        marker.unlink()
    assert type(load(data)._cache).__name__ == "PlanCache"  # the entry is rewritten
    assert isinstance(load(data)._cache, LazyPlanCache)
    # bytes that share a probe key with the entry's (all do here) are still served by
    # their full key only: another model is compiled, not taken for the first
    monkeypatch.setattr(cached_load, "probe_key", lambda data, settings: "0" * 64)
    assert type(load(data)._cache).__name__ == "PlanCache"  # no marker of that probe yet
    assert isinstance(load(data)._cache, LazyPlanCache)  # its marker now
    other = wide_model(make_model, 12)
    assert other.read_bytes() != data
    loaded = load(other.read_bytes())
    assert type(loaded._cache).__name__ == "PlanCache"
    assert not np.array_equal(run(loaded, X)["logits"], ref["logits"])
