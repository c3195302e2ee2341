"""``LiteNetwork.forward``'s fast path (mge.lite.fast_forward): taken in the steady state
with few Python calls, results always those of the general path, output memory reused as
in MegEngine Lite, and the thread guard's records made when a second thread comes."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mge.lite import LiteConcurrencyError, LiteNetwork
from mge.lite.fast_forward import KEEP

from .running import lite_network

pytest.importorskip("onnxruntime")

#: the plan backends whose engines bind inputs and outputs (``Plan.io_binding``)
BOUND = ["onnxruntime", pytest.param("openvino", marks=pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None, reason="openvino is not installed"))]


def _expected(network: LiteNetwork, x: np.ndarray) -> list[np.ndarray]:
    return network.plan.run_feeds([x])


def _python_calls(run: Any) -> list[str]:
    """The Python functions (not builtins) called while ``run()`` runs."""
    calls: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            calls.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}")

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return calls


def _steady(network: LiteNetwork, x: np.ndarray) -> tuple[Any, Any]:
    data = network.get_io_tensor(network.get_input_name(0))
    out = network.get_io_tensor(network.get_output_name(0))
    data.set_data_by_copy(x)
    for _ in range(2):  # the general path, then the fast one
        network.forward()
        network.wait()
    return data, out


@pytest.mark.parametrize("backend", BOUND)
def test_a_steady_forward_makes_few_python_calls(small_model: Path, backend: str) -> None:
    network = lite_network(small_model, backend)
    data, out = _steady(network, np.ones((1, 3, 8, 8), np.float32))

    def forward() -> None:
        network.forward()
        network.wait()
        out.get_data_by_share()

    calls = [c for c in _python_calls(forward) if not c.startswith("test_fast_forward.py")]
    # forward, its fast path, wait, get_data_by_share and the output's (no-op) guard hook
    assert len(calls) <= 5, calls
    assert "fast_forward.py:forward" in calls


@pytest.mark.parametrize("backend", BOUND)
@pytest.mark.parametrize("share", [False, True], ids=["copy", "share"])
def test_fast_forwards_compute_what_the_plan_computes(small_model: Path, share: bool,
                                                      backend: str) -> None:
    network = lite_network(small_model, backend)
    rng = np.random.default_rng(0)
    data, out = _steady(network, np.zeros((1, 3, 8, 8), np.float32))
    results = []
    for _ in range(4):
        x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
        (data.set_data_by_share if share else data.set_data_by_copy)(x)
        network.forward()
        network.wait()
        got = out.to_numpy()
        np.testing.assert_array_equal(got, _expected(network, x)[0])
        results.append(got)
    assert not np.array_equal(results[0], results[1])


@pytest.mark.parametrize("backend", BOUND)
def test_outputs_reuse_their_memory_and_inputs_written_in_place_are_seen(
        small_model: Path, backend: str) -> None:
    network = lite_network(small_model, backend)
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    data = network.get_io_tensor(network.get_input_name(0))
    out = network.get_io_tensor(network.get_output_name(0))
    data.set_data_by_share(x)
    for _ in range(2):
        network.forward()
        network.wait()
    first = out.get_data_by_share()
    x[...] = 2 * x  # the shared array, written in place: the next forward reads it
    network.forward()
    network.wait()
    assert out.get_data_by_share() is first  # as MegEngine Lite: the same output memory
    np.testing.assert_array_equal(first, _expected(network, x)[0])
    assert out.layout.shapes == list(first.shape)


def test_set_data_by_copy_keeps_the_input_array(small_model: Path) -> None:
    network = lite_network(small_model, "onnxruntime")
    data, _ = _steady(network, np.zeros((1, 3, 8, 8), np.float32))
    before = data.get_data_by_share()
    data.set_data_by_copy(np.ones((1, 3, 8, 8), np.float32))
    assert data.get_data_by_share() is before and before.sum() == before.size


@pytest.mark.parametrize("backend", BOUND)
def test_shape_changes_switch_plans_and_come_back(small_model: Path, backend: str) -> None:
    network = lite_network(small_model, backend)
    data = network.get_io_tensor(network.get_input_name(0))
    out = network.get_io_tensor(network.get_output_name(0))
    rng = np.random.default_rng(2)
    for batch in (1, 2, 1, 2, 1):
        x = rng.standard_normal((batch, 3, 8, 8)).astype(np.float32)
        data.set_data_by_copy(x)
        network.forward()
        network.wait()
        np.testing.assert_array_equal(out.to_numpy(), _expected(network, x)[0])
        assert out.layout.shapes[0] == batch
    assert 2 <= len(network._fast_kept) <= KEEP


@pytest.mark.parametrize("backend", BOUND)
def test_an_array_the_binding_refuses_takes_the_general_path(small_model: Path,
                                                             backend: str) -> None:
    """A read-only or non-contiguous input array is not bound (OpenVINO shares only
    writeable memory): that forward runs the general path, the next bindable one the
    fast path again, each with its own input's results."""
    network = lite_network(small_model, backend)
    rng = np.random.default_rng(5)
    data, out = _steady(network, np.zeros((1, 3, 8, 8), np.float32))
    fast = network._fast
    read_only = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    read_only.setflags(write=False)
    wide = rng.standard_normal((1, 3, 8, 16)).astype(np.float32)
    for x in (read_only, wide[..., ::2], rng.standard_normal((1, 3, 8, 8)).astype(np.float32)):
        data._data = x  # what set_data_by_share stores, without its checks
        network.forward()
        network.wait()
        np.testing.assert_array_equal(out.to_numpy(), _expected(network, np.array(x))[0])
    assert network._fast is fast


@pytest.mark.parametrize("backend", BOUND)
def test_a_first_array_the_binding_refuses_still_gets_a_binding(small_model: Path,
                                                                backend: str) -> None:
    """A read-only array in the plan's first forward: the binding is checked on a copy of
    it, so later forwards of writeable arrays run bound (outputs in the same buffers)."""
    network = lite_network(small_model, backend)
    data = network.get_io_tensor(network.get_input_name(0))
    out = network.get_io_tensor(network.get_output_name(0))
    rng = np.random.default_rng(6)
    read_only = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    read_only.setflags(write=False)
    data._data = read_only  # what set_data_by_share stores, without its checks
    network.forward()
    network.wait()
    np.testing.assert_array_equal(out.to_numpy(), _expected(network, read_only)[0])
    buffers = []
    for _ in range(2):
        x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
        data.set_data_by_copy(x)
        network.forward()
        network.wait()
        np.testing.assert_array_equal(out.to_numpy(), _expected(network, x)[0])
        buffers.append(out.get_data_by_share())
    assert buffers[0] is buffers[1]  # the binding's output buffer, written in place


def test_without_a_binding_the_engine_is_called_directly(small_model: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from mge.runtime.plan import Plan

    monkeypatch.setattr(Plan, "io_binding", lambda self, outputs: None)
    network = lite_network(small_model, "onnxruntime")
    x = np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)
    data, out = _steady(network, x)
    first = out.get_data_by_share()
    network.forward()
    network.wait()
    assert out.get_data_by_share() is not first  # fresh arrays from the engine
    np.testing.assert_array_equal(out.to_numpy(), _expected(network, x)[0])


def test_numpy_plans_take_the_fast_path_through_run_feeds(small_model: Path) -> None:
    network = lite_network(small_model, "numpy")
    x = np.random.default_rng(4).standard_normal((1, 3, 8, 8)).astype(np.float32)
    _, out = _steady(network, x)
    assert network._fast is not None
    np.testing.assert_allclose(out.to_numpy(), _expected(network, x)[0], rtol=1e-6)


def test_a_second_thread_makes_the_guard_keep_records(small_model: Path) -> None:
    network = lite_network(small_model, "onnxruntime")
    data, out = _steady(network, np.zeros((1, 3, 8, 8), np.float32))
    assert not network._guard.shared

    def other() -> None:
        data.set_data_by_copy(np.ones((1, 3, 8, 8), np.float32))
        network.forward()
        network.wait()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert network._guard.shared
    with pytest.raises(LiteConcurrencyError, match="replaced by a forward"):
        out.to_numpy()  # this thread's forward's output was replaced by the other's


def test_inputs_overwritten_by_a_second_thread_are_refused(small_model: Path) -> None:
    network = lite_network(small_model, "onnxruntime")
    data, _ = _steady(network, np.zeros((1, 3, 8, 8), np.float32))
    data.set_data_by_copy(np.ones((1, 3, 8, 8), np.float32))
    thread = threading.Thread(
        target=lambda: data.set_data_by_copy(np.full((1, 3, 8, 8), 2, np.float32)))
    thread.start()
    thread.join()
    with pytest.raises(LiteConcurrencyError, match="set its inputs"):
        network.forward()


def test_a_thread_that_ended_hands_its_seat_on(small_model: Path) -> None:
    network = lite_network(small_model, "onnxruntime")

    def first() -> None:
        _steady(network, np.zeros((1, 3, 8, 8), np.float32))

    thread = threading.Thread(target=first)
    thread.start()
    thread.join()
    _, out = _steady(network, np.ones((1, 3, 8, 8), np.float32))
    assert not network._guard.shared and network._guard.seat.solo
    np.testing.assert_array_equal(out.to_numpy(), _expected(network, np.ones((1, 3, 8, 8),
                                                                          np.float32))[0])
