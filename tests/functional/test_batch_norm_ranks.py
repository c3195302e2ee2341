"""``F.batch_norm`` of 2-d and 3-d inputs (``BatchNorm1d``) runs MegEngine's 4-d
``BatchNorm`` between unit axes, as MegEngine's own dumps hold it: real MegEngine Lite
refuses a ``BatchNorm`` of another rank (found on MegEngine/OMNet's and FINet's dumps)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import mge
import mge.module as M
from mge.jit import trace
from mge.lite import LiteNetwork
from mge.serialization.fbs import read_model
from tests.oracle import requires_oracle, run_in_megengine


def _bn(shape: tuple[int, ...]) -> tuple[M.BatchNorm1d, np.ndarray, np.ndarray]:
    bn = M.BatchNorm1d(4)
    bn.running_mean.set_value(np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1))
    bn.running_var.set_value(np.full((1, 4, 1, 1), 4.0, np.float32))
    bn.eval()
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    mean = np.arange(4, dtype=np.float32).reshape((4,) + (1,) * (len(shape) - 2))
    expected = (x - mean) / np.sqrt(4.0 + 1e-5)
    return bn, x, expected.astype(np.float32)


def _dumped(bn: M.BatchNorm1d, x: np.ndarray) -> bytes:
    traced = trace(lambda t: bn(t), symbolic=False, capture_as_const=True)
    traced(mge.tensor(x))
    f = io.BytesIO()
    traced.dump(f, arg_names=["x"], output_names=["y"], optimize_for_inference=False)
    return f.getvalue()


@pytest.mark.parametrize("shape", [(2, 4), (2, 4, 5)])
def test_batch_norm_1d_eager_and_dumped_with_4d_batch_norm(shape: tuple[int, ...]) -> None:
    bn, x, expected = _bn(shape)
    np.testing.assert_allclose(bn(mge.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    data = _dumped(bn, x)
    model = read_model(data, "dumped")
    bns = [op for op in model.operators if op.type.startswith("BatchNorm")]
    assert len(bns) == 1
    net = LiteNetwork()
    net.load(data)
    net.get_io_tensor("x").set_data_by_copy(x)
    net.forward()
    net.wait()
    np.testing.assert_allclose(net.get_io_tensor("y").to_numpy(), expected, rtol=1e-5,
                               atol=1e-6)


@requires_oracle
@pytest.mark.parametrize("shape", [(2, 4), (2, 4, 5)])
def test_megengine_lite_runs_dumped_batch_norm_1d(shape: tuple[int, ...], tmp_path) -> None:  # noqa: ANN001
    bn, x, expected = _bn(shape)
    path = tmp_path / "bn.mge"
    path.write_bytes(_dumped(bn, x))
    out = run_in_megengine(path, {"x": x})
    np.testing.assert_allclose(out["y"].reshape(shape), expected, rtol=1e-5, atol=1e-6)
