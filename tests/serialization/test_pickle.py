"""mge.save / mge.load: paths and file objects, modules and state dicts, map_location,
backend independence, MegEngine-written pickles and error messages."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

import mge
import mge.module as M

DATA = os.path.join(os.path.dirname(__file__), "pickle_data")


def _roundtrip(obj, **load_kwargs):
    buf = io.BytesIO()
    mge.save(obj, buf)
    buf.seek(0)
    return mge.load(buf, **load_kwargs)


def test_tensor_keeps_type_values_dtype_device_and_name():
    t = mge.Parameter(np.arange(6, dtype="int16").reshape(2, 3), device="cpu0")
    t.name = "w"
    back = _roundtrip(t)
    assert type(back) is mge.Parameter
    assert back.dtype == np.int16 and back.device == "cpu0" and back.name == "w"
    np.testing.assert_array_equal(back.numpy(), t.numpy())


def test_state_dict_through_a_path_loads_into_a_fresh_model(tmp_path):
    mge.random.seed(0)
    src = M.Sequential(M.Conv2d(3, 4, 3), M.BatchNorm2d(4), M.Linear(4, 2))
    path = tmp_path / "net.pkl"
    mge.save(src.state_dict(), str(path))
    dst = M.Sequential(M.Conv2d(3, 4, 3), M.BatchNorm2d(4), M.Linear(4, 2))
    dst.load_state_dict(mge.load(path))
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_whole_module_pickles(tmp_path):
    net = M.Sequential(M.Linear(2, 3), M.ReLU())
    net.eval()
    path = tmp_path / "m.pkl"
    with open(path, "wb") as f:
        mge.save(net, f, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with open(path, "rb") as f:
        back = mge.load(f)
    assert repr(back) == repr(net) and not back.training
    np.testing.assert_array_equal(back[0].weight.numpy(), net[0].weight.numpy())


@pytest.mark.parametrize(
    ("map_location", "expected"),
    [
        (None, ["cpu0", "gpu1", "xpux"]),
        ("cpu1", ["cpu1", "cpu1", "cpu1"]),
        ({"gpu1": "cpu0", "xpux": "cpu2"}, ["cpu0", "cpu0", "cpu2"]),
        (lambda dev: "cpu3" if dev.startswith("gpu") else dev, ["cpu0", "cpu3", "xpux"]),
    ],
)
def test_map_location(map_location, expected):
    src = [mge.tensor([1.0], device=d) for d in ("cpu0", "gpu1", "xpux")]
    back = _roundtrip(src, map_location=map_location)
    assert [t.device for t in back] == expected
    assert [t.item() for t in back] == [1.0, 1.0, 1.0]


def test_invalid_map_location():
    with pytest.raises(ValueError, match="invalid device name 'tpu0'"):
        _roundtrip(mge.tensor([1.0]), map_location={"tpu0": "cpu0"})
    with pytest.raises(TypeError, match="map_location should be"):
        _roundtrip(mge.tensor([1.0]), map_location=3)


def test_saved_under_one_backend_loads_under_the_other():
    if "torch" not in mge.available_backends():
        pytest.skip("torch backend not installed")
    previous = mge.get_default_backend()
    try:
        mge.set_default_backend("torch")
        blob = io.BytesIO()
        mge.save({"x": mge.tensor([[1.0, 2.0]])}, blob)
        mge.set_default_backend("numpy")
        blob.seek(0)
        x = mge.load(blob)["x"]
        assert isinstance(x._data, np.ndarray)
        np.testing.assert_array_equal(x.numpy(), [[1.0, 2.0]])
    finally:
        mge.set_default_backend(previous)


def test_loads_a_pickle_written_by_megengine():
    state = mge.load(os.path.join(DATA, "megengine_state.pkl"), map_location="cpu0")
    assert type(state["weight"]) is mge.Parameter and type(state["steps"]) is mge.Tensor
    np.testing.assert_array_equal(state["weight"].numpy(), np.arange(6).reshape(2, 3))
    assert state["steps"].dtype == np.int32 and state["steps"].device == "cpu0"
    np.testing.assert_array_equal(state["plain"], [0.5, 1.5])
    fc = M.Linear(3, 2, bias=False)
    fc.load_state_dict({"weight": state["weight"]})
    np.testing.assert_array_equal(fc.weight.numpy(), state["weight"].numpy())


def test_errors_name_the_path_or_object(tmp_path):
    missing = tmp_path / "nope.pkl"
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        mge.load(str(missing))
    with pytest.raises(TypeError, match="neither a path nor a writable file"):
        mge.save({}, 42)


@pytest.mark.parametrize("version", ["1_1", "1_2"])
def test_megengine_1_1_and_1_2_tensor_pickles_load(version):
    # laid out as MegEngine 1.1 (data in the state) and 1.2 (data as NEWOBJ arguments)
    # wrote them: pickle_data/make_legacy_tensor_pickles.py
    path = os.path.join(DATA, f"megengine_v{version}.pkl")
    state = mge.load(path)
    assert type(state["w"]) is mge.Parameter and type(state["b"]) is mge.Tensor
    assert state["w_again"] is state["w"]
    np.testing.assert_array_equal(state["w"].numpy(), np.arange(4, dtype="float32").reshape(2, 2))
    assert state["b"].dtype == np.int8 and state["b"].numpy().tolist() == [1, 2, 3]
    assert state["b"].device.logical_name == "cpu0:0"
    moved = mge.load(path, map_location="cpu1")
    assert moved["w"].device == "cpu1" and moved["b"].numpy().tolist() == [1, 2, 3]
    assert mge.load(path, weights_only=False)["b"].numpy().tolist() == [1, 2, 3]


def test_megengine_1_1_tensor_pickles_stay_data_only():
    # a 1.1-style state may not smuggle in a call: the restricted unpickler refuses it
    data = open(os.path.join(DATA, "megengine_v1_1.pkl"), "rb").read()
    evil = data.replace(b"\x8c\x04int8", b"\x8c\x04load")  # numpy.load runs pickles
    assert evil != data
    with pytest.raises(pickle.UnpicklingError, match="numpy.load"):
        mge.load(io.BytesIO(evil))


def test_megengine_1_1_quantized_qdict_is_refused():
    t = mge.Tensor.__new__(mge.Tensor)
    with pytest.raises(ValueError, match="qdict"):
        t.__setstate__({"data": np.zeros(2, "int8"), "dtype": np.int8, "device": "cpu0",
                        "qdict": {"mode": 1, "scale": 0.5, "zero_point": None}})
