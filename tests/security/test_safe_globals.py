"""``mge.serialization.add_safe_globals`` / ``safe_globals``: classes the caller admits load
under ``weights_only=True``; everything else is still refused with an error naming it."""

from __future__ import annotations

import dataclasses
import fractions
import io
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.hub as hub
import mge.module as M
from mge.compat import install_megengine_alias, uninstall_megengine_alias
from mge.serialization import (
    add_safe_globals,
    clear_safe_globals,
    get_safe_globals,
    safe_globals,
)
from mge.serialization.restricted_unpickler import WeightsOnlyUnpicklingError

HERE = __name__


class Net(M.Module):
    """A user-defined Module, as MegEngine's ``test_pickle_module`` saves one."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = M.Linear(2, 3)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        return self.fc(x)


@dataclasses.dataclass
class Config:
    lr: float
    steps: int


class Other:
    """Another user class, never admitted."""


class _Reduce:
    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args


@pytest.fixture(autouse=True)
def no_admitted_globals() -> Iterator[None]:
    clear_safe_globals()
    yield
    clear_safe_globals()


def _saved(obj: object) -> io.BytesIO:
    buf = io.BytesIO()
    mge.save(obj, buf)
    buf.seek(0)
    return buf


def _refused(buf: io.BytesIO, name: str) -> None:
    buf.seek(0)
    with pytest.raises(WeightsOnlyUnpicklingError,
                       match=rf"refuses the global '{name}'.*add_safe_globals"):
        mge.load(buf)


def test_user_module_refused_by_default_naming_module_and_class() -> None:
    _refused(_saved(Net()), f"{HERE}.Net")


def test_admitted_module_loads_with_its_weights() -> None:
    net = Net()
    add_safe_globals([Net])
    loaded = mge.load(_saved(net))
    assert type(loaded) is Net
    np.testing.assert_array_equal(loaded.fc.weight.numpy(), net.fc.weight.numpy())
    x = mge.tensor(np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(loaded(x).numpy(), net(x).numpy())


def test_admitted_dataclass_in_a_checkpoint() -> None:
    add_safe_globals([Config])
    state = {"config": Config(0.1, 3), "weight": mge.tensor([1.0, 2.0])}
    loaded = mge.load(_saved(state))
    assert loaded["config"] == Config(0.1, 3)
    np.testing.assert_array_equal(loaded["weight"].numpy(), [1.0, 2.0])


def test_other_classes_stay_refused() -> None:
    add_safe_globals([Net])
    _refused(_saved({"net": Net(), "other": Other()}), f"{HERE}.Other")


def test_context_manager_admits_only_inside() -> None:
    buf = _saved(Config(1.0, 2))
    with safe_globals([Config]):
        assert mge.load(buf) == Config(1.0, 2)
        assert get_safe_globals() == [Config]
    assert get_safe_globals() == []
    _refused(buf, f"{HERE}.Config")


def test_context_manager_restores_what_was_admitted_before() -> None:
    add_safe_globals([Net])
    with safe_globals([Config]):
        assert set(get_safe_globals()) == {Net, Config}
    assert get_safe_globals() == [Net]


def test_a_pair_admits_an_object_under_a_name_of_its_own() -> None:
    payload = b"\x80\x02cmy_project.types\nRatio\nK\x01K\x03\x86R."  # my_project.types.Ratio(1, 3)
    _refused(io.BytesIO(payload), "my_project.types.Ratio")
    add_safe_globals([(fractions.Fraction, "my_project.types.Ratio")])
    assert mge.load(io.BytesIO(payload)) == fractions.Fraction(1, 3)
    assert get_safe_globals() == [(fractions.Fraction, "my_project.types.Ratio")]


def test_admitting_a_class_admits_none_of_its_attributes(tmp_path: Path) -> None:
    """A dotted name reaching through an admitted class (protocol 4 names nested objects
    that way) is not admitted, nor is a call smuggled next to an admitted object."""
    add_safe_globals([Net])
    dotted = pickle.PROTO + b"\x04" + b"".join(
        pickle.SHORT_BINUNICODE + bytes([len(s)]) + s.encode() for s in (HERE, "Net.__init__")
    ) + pickle.STACK_GLOBAL + pickle.STOP
    _refused(io.BytesIO(dotted), f"{HERE}.Net.__init__")
    marker = tmp_path / "ran"
    payload = pickle.dumps({"net": Net(), "x": _Reduce(os.system, f"touch {marker}")})
    _refused(io.BytesIO(payload), "posix.system")
    assert not marker.exists()


@pytest.mark.parametrize(("entry", "problem"), [
    (lambda: None, "inside a function"),
    ((Config, "no_dot"), "should be an object or"),
    ((Config, "a.b", "c"), "should be an object or"),
    (3, "has no __module__/__qualname__"),
])
def test_entries_pickle_cannot_name_are_refused(entry: object, problem: str) -> None:
    with pytest.raises(TypeError, match=problem):
        add_safe_globals([Config, entry])
    assert get_safe_globals() == []  # nothing half-added


def test_megengine_alias_and_hub_weights_see_admitted_globals(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "w.pkl"
    src.write_bytes(_saved({"config": Config(0.5, 1)}).getvalue())
    monkeypatch.setenv("MGE_HOME", str(tmp_path / "home"))
    install_megengine_alias()
    try:
        import megengine
        import megengine.serialization

        megengine.serialization.add_safe_globals([Config])
        assert megengine.load(str(src))["config"] == Config(0.5, 1)
    finally:
        uninstall_megengine_alias()
    assert hub.load_serialized_obj_from_url(src.as_uri(), progress=False) == \
        {"config": Config(0.5, 1)}
