"""The int8 lowering's onnxruntime checks kept on disk (mge/runtime/int8_checks_disk.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from mge.runtime import int8_checks_disk, int8_requant  # noqa: E402

CASES = [("add", 0.05, 0.0235), ("table", 0.05, 0.0235)]


@pytest.fixture
def cache(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    path = tmp_path / "checks.json"
    monkeypatch.setenv(int8_checks_disk.ENV_PATH, str(path))
    monkeypatch.setattr(int8_requant, "_CODES", {})
    return path


def _codes() -> dict:
    return {k: v.copy() for k, v in int8_requant._CODES.items()}


def _no_session(monkeypatch) -> None:  # noqa: ANN001
    import onnxruntime

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the checks should have come from the file")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)


def test_second_process_reads_the_codes_without_a_session(cache, monkeypatch) -> None:  # noqa: ANN001
    int8_requant.prefetch(CASES)
    first = _codes()
    assert cache.exists() and len(first) == 2
    monkeypatch.setattr(int8_requant, "_CODES", {})  # a new process
    _no_session(monkeypatch)
    int8_requant.prefetch(CASES)
    assert _codes().keys() == first.keys()
    assert all(np.array_equal(first[k], v) for k, v in _codes().items())


def test_corrupt_or_foreign_file_is_ignored_and_rewritten(cache) -> None:  # noqa: ANN001
    for junk in ("{not json", json.dumps([1, 2]), json.dumps({"onnxruntime 0.0; layout 1":
                                                              {"add:0x1p-4:0x1p-5": "00"}})):
        cache.write_text(junk)
        int8_requant._CODES.clear()
        int8_requant.prefetch(CASES[:1])
        assert len(int8_requant._CODES) == 1
        stored = json.loads(cache.read_text())
        assert list(stored) == [int8_checks_disk._runtime()]  # other versions dropped
        assert len(next(iter(stored.values()))) == 1


def test_malformed_entry_is_checked_again(cache) -> None:  # noqa: ANN001
    key = int8_checks_disk._key(int8_requant._key(*CASES[0]))
    cache.write_text(json.dumps({int8_checks_disk._runtime(): {key: "zz"}}))
    int8_requant.prefetch(CASES[:1])
    codes = next(iter(int8_requant._CODES.values()))
    assert codes.shape == (256,) and codes.dtype == np.int16 and (codes >= 0).all()


def test_turned_off(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    for off in ("", "0"):
        monkeypatch.setenv(int8_checks_disk.ENV_PATH, off)
        assert int8_checks_disk.cache_path() is None
    monkeypatch.setattr(int8_requant, "_CODES", {})
    int8_requant.prefetch(CASES[:1])
    assert not list(tmp_path.iterdir())


def test_default_under_mge_home(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv(int8_checks_disk.ENV_PATH)
    monkeypatch.setenv("MGE_HOME", str(tmp_path))
    assert int8_checks_disk.cache_path() == str(tmp_path / "runtime" / "int8_requant_checks.json")
