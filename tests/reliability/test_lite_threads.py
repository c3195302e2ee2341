"""One LiteNetwork used from 8 threads at once: results never mix and nothing races.

The threading model (mge.lite.guard): one network per thread, as in MegEngine Lite;
misuse is serialized or refused with ``LiteConcurrencyError``, never answered with
another thread's result.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.jit import trace
from mge.lite import LiteConcurrencyError, LiteConfig, LiteNetwork

THREADS = 8
ROUNDS = 25


class _Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 4, 3, padding=1)
        self.fc = M.Linear(4 * 8 * 8, 6)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        return F.softmax(self.fc(F.flatten(F.relu(self.conv(x)), 1)), 1)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mge.random.seed(3)
    net = _Net()
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def pred(data: mge.Tensor) -> mge.Tensor:
        return net(data)

    pred(mge.tensor(np.zeros((1, 3, 8, 8), np.float32)))
    path = tmp_path_factory.mktemp("threads") / "net.mge"
    pred.dump(str(path), arg_names=["data"], output_names=["prob"])
    return path


def _network(path: Path, backend: str) -> LiteNetwork:
    config = LiteConfig()
    config.plan_backend = backend
    network = LiteNetwork(config)
    network.load(str(path))
    return network


def _hammer(network: LiteNetwork, inputs: list[np.ndarray], expected: list[np.ndarray],
            share: bool) -> dict[str, list]:
    outcome: dict[str, list] = {"ok": [], "refused": [], "wrong": [], "errors": []}
    start = threading.Barrier(len(inputs))

    def worker(k: int) -> None:
        start.wait()
        for _ in range(ROUNDS):
            try:
                data = network.get_io_tensor("data")
                if share:
                    data.set_data_by_share(inputs[k])
                else:
                    data.set_data_by_copy(inputs[k])
                network.forward()
                network.wait()
                out = network.get_io_tensor("prob").to_numpy()
            except LiteConcurrencyError:
                outcome["refused"].append(k)
                continue
            except Exception as exc:  # any other exception is a race  # noqa: BLE001
                outcome["errors"].append(repr(exc))
                continue
            ok = np.allclose(out, expected[k], rtol=1e-5, atol=1e-6)
            outcome["ok" if ok else "wrong"].append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome


@pytest.mark.parametrize("share", [False, True], ids=["copy", "share"])
@pytest.mark.parametrize("backend", ["numpy", "auto"])
def test_eight_threads_on_one_network_never_mix_outputs(model: Path, backend: str,
                                                         share: bool) -> None:
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(THREADS)]
    single = _network(model, backend)
    expected = []
    for x in inputs:  # each input's answer, computed by one thread
        single.get_io_tensor("data").set_data_by_copy(x)
        single.forward()
        single.wait()
        expected.append(single.get_io_tensor("prob").to_numpy())
    assert not all(np.allclose(expected[0], e) for e in expected[1:])  # answers differ
    outcome = _hammer(_network(model, backend), inputs, expected, share)
    assert outcome["wrong"] == [] and outcome["errors"] == []
    assert len(outcome["ok"]) + len(outcome["refused"]) == THREADS * ROUNDS
    assert outcome["ok"], "every forward was refused"


def test_networks_per_thread_sharing_weights_all_succeed(model: Path) -> None:
    src = _network(model, "numpy")
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(THREADS)]
    expected = []
    for x in inputs:
        src.get_io_tensor("data").set_data_by_copy(x)
        src.forward()
        src.wait()
        expected.append(src.get_io_tensor("prob").to_numpy())
    networks = []
    for _ in range(THREADS):
        network = LiteNetwork()
        network.share_weights_with(src)
        networks.append(network)
    results: dict[int, bool] = {}

    def worker(k: int) -> None:
        for _ in range(ROUNDS):
            networks[k].get_io_tensor("data").set_data_by_copy(inputs[k])
            networks[k].forward()
            networks[k].wait()
            out = networks[k].get_io_tensor("prob").to_numpy()
            results[k] = results.get(k, True) and np.allclose(out, expected[k], rtol=1e-5,
                                                              atol=1e-6)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {k: True for k in range(THREADS)}


def test_interleaved_use_is_refused_with_a_clear_error(model: Path) -> None:
    network = _network(model, "numpy")
    mine = np.ones((1, 3, 8, 8), np.float32)
    network.get_io_tensor("data").set_data_by_copy(mine)
    other = threading.Thread(
        target=lambda: network.get_io_tensor("data").set_data_by_copy(mine * 2), name="other")
    other.start()
    other.join()
    with pytest.raises(LiteConcurrencyError, match="another thread set its inputs"):
        network.forward()
    network.get_io_tensor("data").set_data_by_copy(mine)
    network.forward()  # set again: accepted

    def other_forward() -> None:
        network.get_io_tensor("data").set_data_by_copy(mine * 2)
        network.forward()

    other = threading.Thread(target=other_forward, name="other")
    other.start()
    other.join()
    with pytest.raises(LiteConcurrencyError, match="replaced by a forward of thread 'other'"):
        network.get_io_tensor("prob").to_numpy()
    # a hand-off (inputs set here, forward in another thread) is not misuse
    network.get_io_tensor("data").set_data_by_copy(mine)
    worker = threading.Thread(target=network.forward)
    worker.start()
    worker.join()
    network.forward()
    assert network.get_io_tensor("prob").to_numpy().shape == (1, 6)
