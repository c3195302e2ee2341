"""``F.linspace``/``F.arange``/``F.eye`` of traced ``x.shape`` values take their sizes as
input vars, as MegEngine's ``Linspace`` (start, stop, num) and ``Eye`` (shape) do: mge's
dump and MegEngine's follow the input size in mge.lite and in real MegEngine."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.lite as lite
from mge.jit import trace
from mge.serialization.fbs import read_model
from tests.oracle import requires_oracle, run_in_megengine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "interop"
Fn = Callable[[mge.Tensor], mge.Tensor]

#: the cases of tools/oracle/make_traced_creation.py (same names, same formulas)
CASES: dict[str, Fn] = {
    "linspace": lambda x: x + F.linspace(0, 1, x.shape[1]),
    "arange": lambda x: x + F.arange(2, x.shape[1] + 2),
    "arange_step": lambda x: x + F.arange(0, x.shape[1] * 2, 2),
    "eye": lambda x: F.matmul(x, F.eye(x.shape[1])),
    "eye_nm": lambda x: F.matmul(F.eye(x.shape[1], x.shape[0]), x),
}
#: the operator that takes the traced size as an input var
OPERATOR = {"linspace": "Linspace", "arange": "Linspace", "arange_step": "Linspace",
            "eye": "Eye", "eye_nm": "Eye"}
SIZES = ((2, 3), (4, 5))


def data(h: int, w: int) -> np.ndarray:
    """tools/oracle/make_traced_creation.py's input of shape ``(h, w)``."""
    return np.cos(np.arange(h * w, dtype=np.float64) * 0.7).reshape(h, w).astype("float32")


def _dump(fn: Fn) -> bytes:
    f = trace(fn, symbolic=True, capture_as_const=True)
    f(mge.tensor(data(*SIZES[0])))
    buf = io.BytesIO()
    f.dump(buf, arg_names=["x"])
    return buf.getvalue()


def _lite(model: bytes, x: np.ndarray) -> np.ndarray:
    net = lite.LiteNetwork()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net.load(model)
        net.get_io_tensor("x").set_data_by_copy(x)
        net.forward()
    net.wait()
    return net.get_io_tensor(net.get_output_name(0)).to_numpy()


def _golden(name: str, h: int, w: int) -> np.ndarray:
    with np.load(FIXTURES / "traced_creation.npz") as z:
        return z[f"{name}/{h}x{w}"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_mge_dump_follows_the_input_size(name: str) -> None:
    model = _dump(CASES[name])
    types = [op.type for op in read_model(model, "m").operators]
    assert OPERATOR[name] in types and "AssertEqual" not in types
    for h, w in SIZES:
        np.testing.assert_allclose(_lite(model, data(h, w)), _golden(name, h, w), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_megengine_dump_follows_the_input_size_in_mge(name: str) -> None:
    model = (FIXTURES / f"traced_{name}.mge").read_bytes()
    for h, w in SIZES:
        np.testing.assert_allclose(_lite(model, data(h, w)), _golden(name, h, w), rtol=1e-6)


def test_eager_values_unchanged() -> None:
    x = mge.tensor(data(2, 3))
    for name, fn in CASES.items():
        np.testing.assert_allclose(fn(x).numpy(), _golden(name, 2, 3), rtol=1e-6, err_msg=name)
    assert F.eye(mge.tensor([2, 3])).shape == (2, 3)
    np.testing.assert_array_equal(F.arange(1, 7, 2).numpy(), [1.0, 3.0, 5.0])


@requires_oracle
@pytest.mark.parametrize("name", sorted(CASES))
def test_megengine_runs_mge_dump_at_another_size(name: str, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / f"{name}.mge"
    path.write_bytes(_dump(CASES[name]))
    (out,) = run_in_megengine(path, {"x": data(4, 5)}, runner="graph").values()
    np.testing.assert_allclose(out, _golden(name, 4, 5), rtol=1e-6)
