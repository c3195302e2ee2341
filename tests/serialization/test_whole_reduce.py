"""Whole-tensor reductions (``F.mean(x)``) in ``.mge`` files, both ways, as MegEngine 1.13
writes them: ``ReduceV2`` without an axis plus a second input, the target shape ``[1]``
(``tests/fixtures/interop/whole_reduce.*``, made by ``tools/oracle/make_whole_reduce.py``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

import mge
import mge.functional as F
from mge.jit import trace
from mge.lite import LiteNetwork
from mge.serialization.fbs import read_model
from mge.utils.network import Network
from tests.oracle import requires_oracle, run_in_megengine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "interop"
GOLDEN = np.load(FIXTURES / "whole_reduce.npz")


def _run_lite(source: bytes | str) -> dict[str, np.ndarray]:
    net = LiteNetwork()
    if isinstance(source, bytes):
        net.load(source)
    else:
        net.load(str(source))
    net.get_io_tensor("x").set_data_by_copy(GOLDEN["x"])
    net.forward()
    net.wait()
    return {n: net.get_io_tensor(n).to_numpy() for n in net.get_all_output_name()}


def _dumped() -> bytes:
    @trace(symbolic=True, capture_as_const=True)
    def whole(x):  # noqa: ANN001, ANN202
        return F.mean(x), F.sum(x * 2)

    whole(mge.tensor(GOLDEN["x"]))
    f = io.BytesIO()
    whole.dump(f, arg_names=["x"], output_names=["mean", "sum"])
    return f.getvalue()


def test_megengine_files_with_whole_reductions_load_and_run() -> None:
    out = _run_lite(str(FIXTURES / "whole_reduce.mge"))
    np.testing.assert_allclose(out["mean"], GOLDEN["mean"].reshape(1))
    np.testing.assert_allclose(out["sum"], GOLDEN["sum"].reshape(1))


def test_dumped_whole_reduction_has_megengine_target_shape_input() -> None:
    data = _dumped()
    model = read_model(data, "dumped")
    reduces = [op for op in model.operators if op.type == "ReduceV2"]
    assert len(reduces) == 2 and all(len(op.inputs) == 2 for op in reduces)
    out = _run_lite(data)
    np.testing.assert_allclose(out["mean"], [2.5])
    np.testing.assert_allclose(out["sum"], [30.0])


@requires_oracle
def test_megengine_lite_runs_our_whole_reduction(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "whole.mge"
    path.write_bytes(_dumped())
    out = run_in_megengine(path, {"x": GOLDEN["x"]})
    np.testing.assert_allclose(out["mean"].reshape(-1), [2.5])
    np.testing.assert_allclose(out["sum"].reshape(-1), [30.0])


def test_scalar_output_survives_load_and_dump_again() -> None:
    """Loading gives a 0-d result shape (1,) with an AxisAddRemove (MegEngine has no 0-d
    vars); writing it again must not add that axis a second time ((1,) -> (1, 1))."""
    @trace(symbolic=True, capture_as_const=True)
    def dot(x, y):  # noqa: ANN001, ANN202
        return F.dot(x, y)

    x, y = mge.tensor([1.0, 2.0, 3.0]), mge.tensor([3.0, 4.0, 5.0])
    dot(x, y)
    f = io.BytesIO()
    dot.dump(f, arg_names=["a", "b"], output_names=["out"], optimize_for_inference=False)
    f.seek(0)
    again = io.BytesIO()
    Network.load(f).dump(again, optimize_for_inference=False)
    again.seek(0)
    net = Network.load(again)
    (out,) = net.output_vars
    assert out.name == "out" and out.shape == (1,)
    lite = LiteNetwork()
    lite.load(again.getvalue())
    lite.get_io_tensor("a").set_data_by_copy(x.numpy())
    lite.get_io_tensor("b").set_data_by_copy(y.numpy())
    lite.forward()
    lite.wait()
    np.testing.assert_allclose(lite.get_io_tensor("out").to_numpy(), [26.0])
