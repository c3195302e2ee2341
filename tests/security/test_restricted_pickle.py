"""Crafted pickles never run under the default loaders (mge.load, the megengine.load alias,
hub weights, pickled TracedModules), and the allow-list cannot be bypassed through the
callables it admits."""

from __future__ import annotations

import io
import os
import pickle
import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.hub as hub
import mge.module as M
import mge.traced_module as tm
from mge.compat import install_megengine_alias, uninstall_megengine_alias
from mge.serialization.restricted_unpickler import WeightsOnlyUnpicklingError


class _Reduce:
    """Pickles as ``func(*args)``: the classic payload."""

    def __init__(self, func: Callable, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args


def _global_call(module: str, name: str, *args: object) -> bytes:
    """Protocol-2 bytes calling ``module.name(*args)`` (names pickle cannot reach itself)."""
    return (b"\x80\x02c" + f"{module}\n{name}\n".encode() + pickle.dumps(args, 2)[2:-1]
            + b"R.")


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "payload-ran"


def _touch(marker: Path) -> str:
    return "touch " + shlex.quote(str(marker))


def _payloads(marker: Path) -> dict[str, bytes]:
    touch = _touch(marker)
    code = f"open({str(marker)!r}, 'w')"
    return {
        "os.system": pickle.dumps(_Reduce(os.system, touch)),
        "eval": pickle.dumps(_Reduce(eval, code)),
        "exec": pickle.dumps(_Reduce(exec, code)),
        "subprocess": pickle.dumps(_Reduce(subprocess.check_call, ["touch", str(marker)])),
        "protocol 0": b"cos\nsystem\n(S'" + touch.encode() + b"'\ntR.",
        "getattr": _global_call("builtins", "getattr", _Reduce(__import__, "os"), "system"),
        "__import__": pickle.dumps(_Reduce(__import__, "os")),
        "functools.partial": _global_call("functools", "partial", os.system, touch),
        "operator.methodcaller": _global_call("operator", "methodcaller", "system", touch),
        "mge.hub.import_module": _global_call("mge.hub", "import_module", str(marker.parent)),
        "megengine.hub alias": _global_call("megengine.hub.hub", "import_module", "/tmp"),
        "mge.load unsafe": _global_call("mge.serialization.pickle", "load", "/tmp/x"),
        "numpy.load": _global_call("numpy", "load", "/tmp/x.npy", None, True),
        "numpy runstring": _global_call("numpy.testing._private.utils", "runstring", code, {}),
        "mge module global": _global_call("mge.tensor", "np"),
        "dunder of an admitted class": _global_call("mge.module.linear", "__builtins__"),
        "dotted name": _global_call("mge.module.module", "Module.__init__.__globals__"),
        "copyreg._reconstructor": _global_call("copyreg", "_reconstructor", object, object),
        "pickle.loads": _global_call("pickle", "loads", b"cos\nsystem\n."),
        "nested in a state dict": pickle.dumps(
            {"weight": mge.tensor([1.0]), "layer": {"bias": _Reduce(os.system, touch)}}),
    }


def _check_refused(load: Callable[[bytes], object], payload: bytes, marker: Path) -> None:
    with pytest.raises(WeightsOnlyUnpicklingError, match="weights_only=True refuses"):
        load(payload)
    assert not marker.exists()


@pytest.mark.parametrize("name", list(_payloads(Path("/unused"))))
def test_mge_load_refuses(name: str, marker: Path) -> None:
    _check_refused(lambda data: mge.load(io.BytesIO(data)), _payloads(marker)[name], marker)


def test_the_payload_is_real_without_weights_only(marker: Path) -> None:
    mge.load(io.BytesIO(_payloads(marker)["os.system"]), weights_only=False)
    assert marker.exists()


def test_error_names_the_file_and_the_global(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(_payloads(marker)["os.system"])
    with pytest.raises(pickle.UnpicklingError, match=rf"^{path}: .*'posix\.system'.*"
                                                     "weights_only=False"):
        mge.load(path)


def test_custom_pickle_module_needs_weights_only_false() -> None:
    buf = io.BytesIO(pickle.dumps([1]))
    with pytest.raises(ValueError, match="custom pickle_module"):
        mge.load(buf, pickle_module=__import__("pickletools"))


@pytest.fixture
def megengine_alias() -> Iterator[None]:
    install_megengine_alias()
    try:
        yield
    finally:
        uninstall_megengine_alias()


def test_megengine_load_alias_refuses(megengine_alias: None, marker: Path) -> None:
    import megengine

    for payload in _payloads(marker).values():
        _check_refused(lambda data: megengine.load(io.BytesIO(data)), payload, marker)


@pytest.mark.parametrize("name", ["os.system", "mge.hub.import_module", "nested in a state dict"])
def test_hub_weights_refuse(name: str, tmp_path: Path, marker: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "w.pkl"
    src.write_bytes(_payloads(marker)[name])
    monkeypatch.setenv("MGE_HOME", str(tmp_path / "home"))
    with pytest.raises(WeightsOnlyUnpicklingError, match="weights_only=True refuses"):
        hub.load_serialized_obj_from_url(src.as_uri(), progress=False)

    @hub.pretrained(src.as_uri())
    def net() -> M.Module:
        return M.Linear(1, 1)

    with pytest.raises(WeightsOnlyUnpicklingError, match="weights_only=True refuses"):
        net(pretrained=True)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["os.system", "mge.hub.import_module", "nested in a state dict"])
def test_traced_module_converters_refuse(name: str, tmp_path: Path, marker: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    """``tracedmodule_to_onnx -i`` and ``mge convert --traced-module`` load with mge.load's
    default: one error line, status 2, the payload never runs, no output written."""
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    from mge.cli import main as mge_main
    from mge.convert.cli import main as convert_main

    src, out = tmp_path / "net.tm", tmp_path / "net.onnx"
    src.write_bytes(_payloads(marker)[name])
    for run in (lambda: convert_main(["tracedmodule_to_onnx", "-i", str(src), "-o", str(out)]),
                lambda: mge_main(["convert", "--traced-module", str(src), "-o", str(out)])):
        assert run() == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "weights_only=True refuses" in err, err
    assert not marker.exists() and not out.exists()


# ------------------------------------------------------------------ admitted objects misused
def _opcodes(*parts: bytes) -> bytes:
    return b"\x80\x02" + b"".join(parts) + b"."


def test_calling_a_built_object_is_refused() -> None:
    """REDUCE may call an admitted global, never an object the pickle built (a Module)."""
    module = b"cmge.module.activation\nReLU\n)\x81"  # NEWOBJ: ReLU.__new__(ReLU)
    payload = _opcodes(module, b"(K\x01tR")
    with pytest.raises(WeightsOnlyUnpicklingError, match=r"a call of a mge\.module\.\w+\.ReLU"):
        mge.load(io.BytesIO(payload))


def test_setting_attributes_of_a_class_is_refused() -> None:
    """BUILD on a class object would monkeypatch it (``Linear.forward = ...``)."""
    payload = _opcodes(b"cmge.module.linear\nLinear\n", b"N}X\x07\x00\x00\x00forwardK\x01s\x86b")
    with pytest.raises(WeightsOnlyUnpicklingError, match="setting the state"):
        mge.load(io.BytesIO(payload))
    assert callable(M.Linear.forward)


def test_dunder_state_keys_are_refused() -> None:
    payload = _opcodes(b"cmge.module.activation\nReLU\n)\x81",
                       b"}X\x09\x00\x00\x00__class__cmge.module.linear\nLinear\nsb")
    with pytest.raises(WeightsOnlyUnpicklingError, match="the state"):
        mge.load(io.BytesIO(payload))


def test_filling_a_non_container_is_refused() -> None:
    payload = _opcodes(b"cmge.module.activation\nReLU\n)\x81", b"(K\x01K\x02u")
    with pytest.raises(WeightsOnlyUnpicklingError, match="like a container"):
        mge.load(io.BytesIO(payload))


# ------------------------------------------------------------------ TracedModules
class _Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = M.Linear(3, 2)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        return F.relu(self.fc(x)).reshape(-1) * 2


def _traced() -> tm.TracedModule:
    return tm.trace_module(_Net(), mge.tensor(np.ones((1, 3), "float32")))


def _pickled(obj: object) -> bytes:
    buf = io.BytesIO()
    mge.save(obj, buf)
    return buf.getvalue()


def test_traced_module_loads_by_default() -> None:
    traced = _traced()
    back = mge.load(io.BytesIO(_pickled(traced)))
    x = mge.tensor(np.arange(3, dtype="float32").reshape(1, 3))
    np.testing.assert_array_equal(back(x).numpy(), traced(x).numpy())


def _exprs(traced: tm.TracedModule, kind: type) -> list:
    return [e for e in traced.graph._exprs if type(e) is kind]


def test_traced_module_calling_os_system(marker: Path) -> None:
    traced = _traced()
    _exprs(traced, tm.CallFunction)[0].func = os.system
    _check_refused(lambda data: mge.load(io.BytesIO(data)), _pickled(traced), marker)


@pytest.mark.parametrize(("path", "problem"), [
    ("forward.__globals__", "reads the attribute path"),
    ("fc._forward_hooks", "not a module or data"),
    ("fc.__class__", "reads the attribute path"),
    ("fc.forward", "a method"),
    ("fc.weight.numpy", "does not lead through modules"),
])
def test_traced_module_graph_reading_past_modules(path: str, problem: str) -> None:
    traced = _traced()
    _exprs(traced, tm.GetAttr)[0].name = path
    data = _pickled(traced)
    with pytest.raises(WeightsOnlyUnpicklingError, match=problem):
        mge.load(io.BytesIO(data))
    mge.load(io.BytesIO(data), weights_only=False)  # the unsafe loader takes anything


@pytest.mark.parametrize("method", ["tofile", "dump", "__class__", "__reduce_ex__"])
def test_traced_module_graph_calling_other_methods(method: str) -> None:
    traced = _traced()
    _exprs(traced, tm.CallMethod)[-1].method = method
    with pytest.raises(WeightsOnlyUnpicklingError, match="calls the method"):
        mge.load(io.BytesIO(_pickled(traced)))


def test_traced_module_graph_calling_a_tensor() -> None:
    traced = _traced()
    call = next(e for e in _exprs(traced, tm.CallMethod) if e.method == "reshape")
    call.method = "__call__"
    with pytest.raises(WeightsOnlyUnpicklingError, match="calls something not a module"):
        mge.load(io.BytesIO(_pickled(traced)))


def test_traced_module_graph_rebinding_self() -> None:
    traced = _traced()
    graph = traced.graph
    last = _exprs(traced, tm.CallMethod)[-1]
    last.outputs = [graph._inputs[0]]
    with pytest.raises(WeightsOnlyUnpicklingError, match="redefines the node"):
        mge.load(io.BytesIO(_pickled(traced)))


def test_graph_with_a_foreign_owner() -> None:
    traced = _traced()
    traced.graph._owner = M.ReLU()
    with pytest.raises(WeightsOnlyUnpicklingError, match="not its own"):
        mge.load(io.BytesIO(_pickled(traced)))
