"""LiteNetwork: the docs' loop, loading forms, IO names, shape changes, settings,
callbacks, profiling, IO dumps, weight sharing and the errors of bad use."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from mge.lite import (
    LiteConfig,
    LiteDataType,
    LiteError,
    LiteIO,
    LiteLayout,
    LiteNetwork,
    LiteNetworkIO,
    LiteTensorPhase,
    LiteTypeError,
    LiteValueError,
    get_model_io_info,
)
from mge.runtime.executor import Executor
from mge.runtime.plan import available_plan_backends
from mge.serialization.mge_graph import load_graph

from .conftest import image
from .running import lite_network

BACKENDS = [b for b in available_plan_backends() if b in ("numpy", "torch")]


def _reference(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    graph = load_graph(str(path)).graph
    return {v.name: out for v, out in zip(graph.outputs, Executor(graph, "numpy").run(x),
                                         strict=True)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_docs_loop(small_model: Path, backend: str) -> None:
    network = LiteNetwork(LiteConfig())
    network.config.plan_backend = backend
    network.load(str(small_model))
    img = image()
    input_tensor = network.get_io_tensor("data")
    input_tensor.set_data_by_share(img)
    network.forward()
    network.wait()
    ref = _reference(small_model, img)
    assert network.get_all_output_name() == ["logits", "prob"]
    for name in network.get_all_output_name():
        out = network.get_io_tensor(name).to_numpy()
        np.testing.assert_allclose(out, ref[name], rtol=1e-4, atol=1e-6)
    assert network.get_input_name(0) == "data" and network.get_all_input_name() == ["data"]
    assert network.get_output_name(1) == "prob"


def test_load_forms_and_model_info(small_model: Path) -> None:
    data = small_model.read_bytes()
    img = image()
    results = []
    for source in (str(small_model), small_model, data, io.BytesIO(data),
                   open(small_model, "rb")):
        network = LiteNetwork()
        network.load(source)
        network.get_io_tensor("data").set_data_by_copy(img)
        network.forward()
        network.wait()
        results.append(network.get_io_tensor("prob").to_numpy())
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    info = get_model_io_info(str(small_model))
    assert [i.name for i in info.inputs] == ["data"]
    assert info.inputs[0].config_layout.shapes == [1, 3, 8, 8]
    assert [o.name for o in info.outputs] == ["logits", "prob"]


def test_io_tensors(small_model: Path) -> None:
    network = lite_network(small_model)
    data = network.get_io_tensor("data", LiteTensorPhase.LITE_INPUT)
    assert data.layout.shapes == [1, 3, 8, 8] and data.layout.data_type == LiteDataType.LITE_FLOAT
    prob = network.get_io_tensor("prob", LiteTensorPhase.LITE_OUTPUT)
    assert prob.layout.shapes == [1, 10]
    with pytest.raises(LiteValueError, match=r"no output tensor named 'data'; inputs: \['data'\]"):
        network.get_io_tensor("data", LiteTensorPhase.LITE_OUTPUT)
    with pytest.raises(LiteValueError, match="no io tensor named 'image'"):
        network.get_io_tensor("image")
    with pytest.raises(IndexError, match="input index 1 out of range"):
        network.get_input_name(1)
    with pytest.raises(IndexError, match="output index 2 out of range"):
        network.get_output_name(2)


def test_bad_use_errors(small_model: Path, tmp_path: Path) -> None:
    network = LiteNetwork()
    with pytest.raises(LiteError, match=r"forward: the network has no model; call load\(\)"):
        network.forward()
    with pytest.raises(LiteError, match="no model"):
        network.get_io_tensor("data")
    junk = tmp_path / "junk.mge"
    junk.write_bytes(b"this is not a model at all")
    with pytest.raises(LiteValueError, match="cannot load .*junk.mge as a MegEngine model: "
                                             ".*not a MegEngine FBS_V2 model"):
        network.load(str(junk))
    with pytest.raises(LiteTypeError, match="load takes a path, bytes or a binary file"):
        network.load(3)
    network = lite_network(small_model)
    with pytest.raises(LiteError, match="already loaded"):
        network.load(str(small_model))
    data = network.get_io_tensor("data")
    with pytest.raises(LiteTypeError, match=r"input 'data': expected dtype float32 \(shape "
                                            r"\[1, 3, 8, 8\]\), got int32 "
                                            r"\(shape \[1, 3, 8, 8\]\)"):
        data.set_data_by_copy(np.zeros((1, 3, 8, 8), np.int32))
    with pytest.raises(LiteTypeError, match="expected dtype float32 .*, got float64.*"
                                            "set_data_by_copy converts"):
        data.set_data_by_share(np.zeros((1, 3, 8, 8)))
    with pytest.raises(LiteValueError, match="C-contiguous array.*np.ascontiguousarray"):
        data.set_data_by_share(np.zeros((1, 8, 8, 3), np.float32).transpose(0, 3, 1, 2))
    data.set_data_by_copy(np.zeros((1, 4, 8, 8), np.float32))
    with pytest.raises(LiteValueError, match=r"input 'data': expected shape \(1, 3, 8, 8\), "
                                             r"got \(1, 4, 8, 8\): ConvBiasForward"):
        network.forward()


def test_shape_change_replans(small_model: Path) -> None:
    network = lite_network(small_model)
    batch = image((4, 3, 8, 8), 1)
    network.get_io_tensor("data").set_data_by_copy(batch.astype(np.float64))  # converted
    network.forward()
    network.wait()
    prob = network.get_io_tensor("prob")
    assert prob.layout.shapes == [4, 10]
    first = network.plan
    np.testing.assert_allclose(prob.to_numpy()[2], _reference(small_model, batch[2:3])["prob"][0],
                               rtol=1e-4, atol=1e-6)
    network.get_io_tensor("data").set_data_by_share(image())
    network.forward()
    assert network.plan is not first and prob.layout.shapes == [1, 10]


def test_settings_before_load(small_model: Path) -> None:
    network = LiteNetwork()
    assert network.threads_number == 1 and network.device_id == 0
    network.threads_number = 2
    network.device_id = 0
    network.enable_cpu_inplace_mode()
    network.load(str(small_model))
    assert network.threads_number == 2 and network.is_cpu_inplace_mode()
    assert network.plan.options.threads == 2
    for attr, value in (("threads_number", 1), ("device_id", 1)):
        with pytest.raises(LiteError, match=f"{attr}: the network is already loaded"):
            setattr(network, attr, value)
    with pytest.raises(LiteValueError, match="threads_number must be >= 1"):
        LiteNetwork().threads_number = 0


def test_callbacks_and_async(small_model: Path) -> None:
    network = lite_network(small_model)
    seen: dict[str, list] = {"start": [], "finish": []}

    def record(kind: str):  # noqa: ANN202
        def callback(ios: dict) -> int:
            seen[kind].append({io.name: t.to_numpy().copy() for io, t in ios.items()})
            assert all(isinstance(io, LiteIO) for io in ios)
            return 0
        return callback

    network.set_start_callback(record("start"))
    network.set_finish_callback(record("finish"))
    done = threading.Event()
    network.async_with_callback(lambda: done.set() or 0)
    img = image()
    network.get_io_tensor("data").set_data_by_share(img)
    network.forward()
    assert done.wait(60)
    network.wait()
    np.testing.assert_array_equal(seen["start"][0]["data"], img)
    assert set(seen["finish"][0]) == {"logits", "prob"}
    np.testing.assert_allclose(seen["finish"][0]["prob"], _reference(small_model, img)["prob"],
                               rtol=1e-4, atol=1e-6)
    network.get_io_tensor("data").set_data_by_copy(np.zeros((1, 4, 8, 8), np.float32))
    network.async_with_callback(lambda: 0)
    with pytest.raises(LiteValueError, match="expected shape"):
        network.forward()  # shape errors come before the work is queued


def test_async_errors_surface_in_wait(small_model: Path) -> None:
    network = lite_network(small_model)

    def boom(ios: dict) -> int:
        raise RuntimeError("callback failed")

    network.set_finish_callback(boom)
    network.async_with_callback(lambda: 0)
    network.forward()
    with pytest.raises(RuntimeError, match="callback failed"):
        network.wait()
    network.wait()  # reported once


@pytest.mark.parametrize("backend", BACKENDS)
def test_profile_and_io_dumps(small_model: Path, tmp_path: Path, backend: str) -> None:
    network = lite_network(small_model, backend)
    network.enable_profile_performance(str(tmp_path / "profile.json"))
    network.io_txt_dump(str(tmp_path / "io.txt"))
    network.io_bin_dump(str(tmp_path / "bin"))
    network.get_io_tensor("data").set_data_by_share(image())
    for _ in range(2):
        network.forward()
        network.wait()
    profile = json.loads((tmp_path / "profile.json").read_text())
    assert profile["backend"] == backend and profile["runs"] == 2
    assert len(profile["ops"]) == len(network.plan.steps)
    assert {"ConvBiasForward", "MatrixMul"} <= {t["type"] for t in profile["by_type"]}
    assert abs(sum(op["time_ms"] for op in profile["ops"]) - profile["total_ms"]) < 1e-2
    assert profile["forward_ms"] >= profile["total_ms"] > 0
    summary = (tmp_path / "profile.txt").read_text()
    assert "op type" in summary and "slowest" in summary and backend in summary
    text = (tmp_path / "io.txt").read_text()
    assert text.count("==== forward") == 2 and "input data: f32[1,3,8,8]" in text
    assert "-> %prob: f32[1,10]" in text
    files = sorted(p.name for p in (tmp_path / "bin").iterdir())
    assert len(files) == 2 * (1 + len(network.plan.steps))
    prob = np.load(tmp_path / "bin" / [f for f in files if f.startswith("002_") and
                                       f.endswith("prob.npy")][0])
    np.testing.assert_allclose(prob, network.get_io_tensor("prob").to_numpy(), rtol=1e-6)


def test_text_io_dump_replaces_an_old_file_whole_then_appends_forwards(
        small_model: Path, tmp_path: Path) -> None:
    """The dump is written once per forward (atomically): an old file stays until the
    first forward replaces it, and every later forward adds its whole section."""
    path = tmp_path / "io.txt"
    path.write_text("an older dump\n")
    network = lite_network(small_model)
    network.io_txt_dump(str(path))
    network.get_io_tensor("data").set_data_by_share(image())
    assert path.read_text() == "an older dump\n"
    sections = []
    for forward in (1, 2):
        network.forward()
        network.wait()
        text = path.read_text()
        assert "older" not in text and text.count("==== forward") == forward
        assert text.endswith("\n") and text.startswith("".join(sections))
        sections.append(text[len("".join(sections)):])
    assert sections[0].replace("forward 1", "forward 2") == sections[1]


def test_share_weights_and_network_io(small_model: Path) -> None:
    src = lite_network(small_model, "torch" if "torch" in BACKENDS else "numpy")
    shared = LiteNetwork()
    shared.threads_number = 2
    shared.share_weights_with(src)
    assert shared.plan.backend.weights is src.plan.backend.weights
    img = image()
    for network in (src, shared):
        network.get_io_tensor("data").set_data_by_share(img)
        network.forward()
        network.wait()
    np.testing.assert_array_equal(shared.get_io_tensor("prob").to_numpy(),
                                  src.get_io_tensor("prob").to_numpy())
    with pytest.raises(LiteValueError, match="needs a loaded LiteNetwork"):
        LiteNetwork().share_weights_with(LiteNetwork())
    ios = LiteNetworkIO([LiteIO("data", layout=LiteLayout([2, 3, 8, 8]))], [["prob", True]])
    network = LiteNetwork(io=ios)
    network.load(str(small_model))
    assert network.get_all_output_name() == ["prob"]
    assert network.get_io_tensor("data").layout.shapes == [2, 3, 8, 8]
    with pytest.raises(LiteValueError, match=r"asks for outputs \['nope'\]"):
        LiteNetwork(io=LiteNetworkIO(outputs=[LiteIO("nope")])).load(str(small_model))


def test_megenginelite_alias() -> None:
    from mge.compat import install_megengine_alias, uninstall_megengine_alias

    install_megengine_alias()
    try:
        import megenginelite

        assert megenginelite.LiteNetwork is LiteNetwork
        assert megenginelite.version == "1.13.0"
        assert int(megenginelite.LiteDeviceType.LITE_CUDA) == 1
        assert megenginelite.LiteDeviceType.CUDA is megenginelite.LiteDeviceType.LITE_CUDA
        assert [int(m) for m in megenginelite.LiteAlgoSelectStrategy] == [1, 2, 4, 8]
    finally:
        uninstall_megengine_alias()


def test_loads_test_case_containers(tmp_path) -> None:  # noqa: ANN001
    """Files with embedded test cases load (the checks are taken off); MegEngine Lite
    refuses them."""
    import mge
    import mge.functional as F
    from mge import jit

    x = np.random.default_rng(0).random((1, 3, 4, 4), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)

    @jit.trace(symbolic=True, capture_as_const=True)
    def fun(data):  # noqa: ANN001, ANN202
        return F.relu(data - 0.5) * 2

    fun(mge.tensor(x))
    path = tmp_path / "cases.mge"
    fun.dump(str(path), arg_names=["data"], input_data=[f"data:{tmp_path / 'x.npy'}"],
             silent=True)
    network = LiteNetwork()
    network.load(str(path))
    assert network.get_all_input_name() == ["data"]
    network.get_io_tensor("data").set_data_by_copy(x)
    network.forward()
    network.wait()
    out = network.get_io_tensor(network.get_all_output_name()[0]).to_numpy()
    np.testing.assert_allclose(out, np.maximum(x - 0.5, 0) * 2, atol=1e-6)


def test_share_of_the_same_bytes_in_another_shape_keeps_the_layout(small_model: Path) -> None:
    """Real MegEngine Lite (checked with 1.13): ``set_data_by_share`` of an array with the
    input's dtype and byte size but another shape (MegFlow shares (3, H, W) for a
    (1, 3, H, W) input) keeps the input's layout; the output is the one of that layout."""
    x = image()
    want = lite_network(small_model)
    want.get_io_tensor("data").set_data_by_copy(x)
    want.forward()
    want.wait()
    expected = want.get_io_tensor(want.get_all_output_name()[0]).to_numpy()

    net = lite_network(small_model)
    data = net.get_io_tensor("data")
    flat = np.ascontiguousarray(x.reshape(3, 8, 8))
    data.set_data_by_share(flat)
    assert list(data.layout.shapes[:data.layout.ndim]) == [1, 3, 8, 8]
    net.forward()
    net.wait()
    np.testing.assert_array_equal(
        net.get_io_tensor(net.get_all_output_name()[0]).to_numpy(), expected)
