"""Whole-tensor reductions (``F.mean(x)``) in ``.mge`` files, both ways, as MegEngine 1.13
writes them: ``ReduceV2`` without an axis plus a second input, the target shape ``[1]``
(``tests/fixtures/megengine/whole_reduce.*``, made by ``tools/oracle/make_whole_reduce.py``).
"""

from __future__ import annotations

import io

import numpy as np

import mge
import mge.functional as F
from mge.jit import trace
from mge.lite import LiteNetwork
from mge.serialization.fbs.reader import read_model
from tests.oracle import FIXTURES, requires_oracle, run_in_megengine

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
