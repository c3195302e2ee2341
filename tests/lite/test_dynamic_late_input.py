"""mge.lite runs a MegEngine dump whose second input's ``Host2DeviceCopy`` comes after a
value-dependent operator (``CondTake``): the stage read after the selected count is known
still gets that model input (the End-to-end ASR Transformer's target tokens come so).
Golden output from real MegEngine Lite 1.13 (``fixtures/lite/dynamic/gen_late_input.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mge.lite import LiteConfig, LiteNetwork
from mge.serialization.mge_staged import StagedModel

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "lite" / "dynamic" / "late_input.npz"
with np.load(GOLDEN) as _z:
    ARRAYS = {k: _z[k] for k in _z.files}


def test_the_second_input_comes_after_the_dynamic_operator() -> None:
    staged = StagedModel.from_bytes(ARRAYS["model"].tobytes())
    kinds = [op.type for op in staged.model.operators]
    feeds = [k for k, t in enumerate(kinds) if t == "Host2DeviceCopy"]
    assert len(feeds) == 2 and feeds[0] < kinds.index("CondTake") < feeds[1]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_lite_feeds_a_model_input_read_in_a_later_stage(backend: str) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    config = LiteConfig()
    config.plan_backend = backend
    network = LiteNetwork(config)
    network.load(ARRAYS["model"].tobytes())
    for _ in range(2):  # the second run reuses the stages read by the first
        for name in ("x", "y"):
            network.get_io_tensor(name).set_data_by_copy(ARRAYS[f"in__{name}"])
        network.forward()
        network.wait()
        (out,) = [network.get_io_tensor(n).to_numpy() for n in network.get_all_output_name()]
        np.testing.assert_allclose(out, ARRAYS["out0"], rtol=1e-6)
