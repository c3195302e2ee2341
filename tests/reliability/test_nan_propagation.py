"""NaN and Inf reach the outputs of a whole model on every plan backend as in numpy.

MobileNetV2 (conv+BN+ReLU6 blocks fused into ConvBias, residual adds, global pooling,
FC) is dumped and run by Lite on every plan backend with inputs holding NaN, +-Inf and
1e38 (clamped by ReLU6 or overflowing to Inf). The op table checks every op
alone; this checks the fused plan paths (oneDNN epilogues, in-place activations).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
from mge.jit import trace
from mge.models import mobilenet_v2
from mge.runtime.plan import available_plan_backends

from ..lite.running import lite_outputs

SHAPE = (2, 3, 32, 32)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mge.random.seed(3)
    net = mobilenet_v2(input_size=SHAPE[-1])
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def pred(data: mge.Tensor) -> mge.Tensor:
        return net(data)

    pred(mge.tensor(np.zeros(SHAPE, np.float32)))
    path = tmp_path_factory.mktemp("nan") / "mobilenet_v2.mge"
    pred.dump(str(path), arg_names=["data"], enable_fuse_conv_bias_nonlinearity=True)
    return path


def _forward(path: Path, data: np.ndarray, backend: str) -> np.ndarray:
    (out,) = lite_outputs(path, {"data": data}, backend).values()
    return out


def _inputs() -> dict[str, np.ndarray]:
    """Batch element 0 is clean (its logits must stay finite), element 1 is poisoned."""
    rng = np.random.default_rng(0)
    cases = {}
    for name, value in (("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf), ("1e38", 1e38)):
        x = rng.uniform(-1, 1, SHAPE).astype(np.float32)
        x[1, :, 5:9, 7:11] = value
        cases[name] = x
    return cases


@pytest.mark.parametrize("backend", available_plan_backends())
@pytest.mark.parametrize("poison", sorted(_inputs()))
def test_nonfinite_inputs_reach_the_logits(model: Path, backend: str, poison: str) -> None:
    data = _inputs()[poison]
    with np.errstate(all="ignore"):
        want = _forward(model, data, "numpy")
        got = _forward(model, data, backend)
    assert np.isfinite(want[0]).all() and np.isfinite(got[0]).all()
    if poison != "1e38":  # huge finite values are clamped by ReLU6: logits may stay finite
        assert not np.isfinite(want[1]).all(), "the poisoned image must not give finite logits"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=backend)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=backend)
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-3, atol=1e-4)
