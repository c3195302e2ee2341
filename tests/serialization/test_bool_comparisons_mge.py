"""``!=``, ``isnan`` and ``isinf`` in ``.mge`` files: megdnn's ``Elemwise`` has no kernel
for these modes (real MegEngine 1.13 Lite fails to load an ``Elemwise NEQ``: found on
MegEngine/GyroFlow's dump), so mge writes them as MegEngine records them,
``ElemwiseMultiType`` with a bool output, and reads them back as the comparison."""

from __future__ import annotations

import io

import numpy as np

import mge
import mge.functional as F
from mge.jit import trace
from mge.lite import LiteNetwork
from mge.serialization.fbs import read_model
from tests.oracle import requires_oracle, run_in_megengine

X = np.array([1.0, np.nan, 3.0, -np.inf], np.float32)
Y = np.array([1.0, 5.0, np.inf, 2.0], np.float32)
#: (x != y) * 2 + isnan(x) * 8 + isinf(y) * 16
EXPECTED = np.array([0.0, 10.0, 18.0, 2.0], np.float32)


def _dumped() -> bytes:
    @trace(symbolic=True, capture_as_const=True)
    def compare(x, y):  # noqa: ANN001, ANN202
        return ((x != y).astype("float32") * 2 + F.isnan(x).astype("float32") * 8
                + F.isinf(y).astype("float32") * 16)

    np.testing.assert_array_equal(compare(mge.tensor(X), mge.tensor(Y)).numpy(), EXPECTED)
    f = io.BytesIO()
    compare.dump(f, arg_names=["x", "y"], output_names=["out"])
    return f.getvalue()


def test_comparisons_megdnn_lacks_are_written_as_multi_type() -> None:
    model = read_model(_dumped(), "dumped")
    modes = sorted(op.params[0].fields["mode"] for op in model.operators
                   if op.type == "ElemwiseMultiType")
    assert modes == ["ISINF", "ISNAN", "NEQ"]
    assert not [op for op in model.operators
                if op.type == "Elemwise" and op.params[0].fields["mode"] in modes]


def test_written_comparisons_run_in_mge_lite() -> None:
    net = LiteNetwork()
    net.load(_dumped())
    net.get_io_tensor("x").set_data_by_copy(X)
    net.get_io_tensor("y").set_data_by_copy(Y)
    net.forward()
    net.wait()
    np.testing.assert_array_equal(net.get_io_tensor("out").to_numpy(), EXPECTED)


@requires_oracle
def test_megengine_lite_runs_written_comparisons(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "compare.mge"
    path.write_bytes(_dumped())
    out = run_in_megengine(path, {"x": X, "y": Y})
    np.testing.assert_array_equal(out["out"].reshape(-1), EXPECTED)
