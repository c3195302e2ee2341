"""LiteNetwork features of MegEngine Lite 1.13: outputs into user memory, MegEngine's
input order, discrete inputs, stream id, runtime-memory sharing, static memory info,
global layout transform and its model dump."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mge.lite import (
    LiteConfig,
    LiteError,
    LiteIO,
    LiteLayout,
    LiteNetwork,
    LiteNetworkIO,
    LiteValueError,
    get_model_io_info,
)
from mge.lite.input_order import lite_input_order
from mge.runtime.plan import available_plan_backends

from .conftest import SmallNet, image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lite"


def _forward(network: LiteNetwork, data: np.ndarray, output: str = "prob") -> np.ndarray:
    network.get_io_tensor("data").set_data_by_copy(data)
    network.forward()
    network.wait()
    return network.get_io_tensor(output).to_numpy()


def test_outputs_written_into_user_memory(small_model: Path) -> None:
    config = LiteConfig()
    config.plan_backend = "numpy"
    config.options.force_output_use_user_specified_memory = True
    network = LiteNetwork(config)
    network.load(str(small_model))
    out_tensor = network.get_io_tensor("prob")
    user = np.zeros(out_tensor.layout.shapes, out_tensor.layout.dtype)
    out_tensor.set_data_by_share(user)
    for seed in (0, 1):
        network.get_io_tensor("data").set_data_by_copy(image(seed=seed))
        network.forward()
        network.wait()
        reference = LiteNetwork()
        reference.load(str(small_model))
        expected = _forward(reference, image(seed=seed))
        np.testing.assert_allclose(user, expected, rtol=1e-5, atol=1e-6)
        assert network.get_io_tensor("prob").get_data_by_share() is not None
        assert np.shares_memory(network.get_io_tensor("prob").get_data_by_share(), user)


def test_input_order_is_megengines() -> None:
    """Real MegEngine Lite listed these models' inputs (tests/fixtures/lite)."""
    expected = json.loads((FIXTURES / "input_order.json").read_text())
    for name, order in expected.items():
        network = LiteNetwork()
        network.load(str(FIXTURES / name))
        assert network.get_all_input_name() == order
        assert [network.get_input_name(k) for k in range(len(order))] == order
        assert [io.name for io in get_model_io_info(str(FIXTURES / name)).inputs] == order
    assert lite_input_order(["data", "roi"]) == ["roi", "data"]


def test_discrete_input(make_model) -> None:  # noqa: ANN001
    net = SmallNet()
    net.eval()
    path = make_model(net, (3, 3, 8, 8))
    batch = image((3, 3, 8, 8), seed=4)
    whole = LiteNetwork()
    whole.load(str(path))
    expected = _forward(whole, batch)
    config = LiteConfig()
    config.discrete_input_name = b"data"
    network = LiteNetwork(config, LiteNetworkIO([LiteIO("data", layout=LiteLayout([3, 3, 8, 8]))]))
    network.load(str(path))
    parts = [network.get_discrete_tensor("data", k) for k in range(3)]
    assert [p.layout.shapes for p in parts] == [[1, 3, 8, 8]] * 3
    for k, part in enumerate(parts):
        part.set_data_by_share(np.ascontiguousarray(batch[k:k + 1]))
    network.forward()
    network.wait()
    np.testing.assert_allclose(network.get_io_tensor("prob").to_numpy(), expected, rtol=1e-5)
    with pytest.raises(LiteError, match="discrete mode"):
        network.get_io_tensor("data")
    with pytest.raises(IndexError, match="has 3 tensors"):
        network.get_discrete_tensor("data", 3)
    config.discrete_input_name = "nope"
    with pytest.raises(LiteValueError, match="'nope' is not an input"):
        LiteNetwork(config).load(str(path))


def test_stream_id_and_runtime_memory_sharing(small_model: Path) -> None:
    src = LiteNetwork()
    src.load(str(small_model))
    network = LiteNetwork()
    assert network.stream_id == 0
    network.stream_id = 2
    network.share_runtime_memroy(src)  # MegEngine's spelling
    assert LiteNetwork.share_runtime_memory is LiteNetwork.share_runtime_memroy
    network.load(str(small_model))
    assert network.stream_id == 2 and network._guard.lock is src._guard.lock
    with pytest.raises(RuntimeError):
        network.stream_id = 1
    with pytest.raises(LiteError, match="already loaded"):
        network.share_runtime_memroy(src)
    np.testing.assert_array_equal(_forward(network, image()), _forward(src, image()))


def test_static_memory_info(small_model: Path, tmp_path: Path) -> None:
    network = LiteNetwork()
    network.load(str(small_model))
    network.get_static_memory_alloc_info(str(tmp_path / "logs"))
    info = json.loads((tmp_path / "logs" / "StaticMemoryInfo.json").read_text())
    assert info["peak_activation_bytes"] == network.plan.memory.peak_activation_bytes > 0


@pytest.mark.parametrize("backend", [b for b in available_plan_backends()
                                     if b in ("numpy", "torch")])
def test_global_layout_transform(small_model: Path, tmp_path: Path, backend: str,
                                 caplog: pytest.LogCaptureFixture) -> None:
    config = LiteConfig()
    config.plan_backend = backend
    network = LiteNetwork(config)
    network.enable_global_layout_transform()
    with caplog.at_level("INFO", logger="mge.lite"):
        network.load(str(small_model))
    assert "global layout transform" in caplog.text
    if backend == "torch":
        assert network.plan.options.channels_last in (True, False)
    with pytest.raises(LiteError, match="already loaded"):
        network.enable_global_layout_transform()
    dumped = tmp_path / "transformed.mge"
    network.dump_layout_transform_model(str(dumped))
    again = LiteNetwork()
    again.load(str(dumped))
    np.testing.assert_allclose(_forward(again, image()), _forward(network, image()),
                               rtol=1e-5, atol=1e-6)
