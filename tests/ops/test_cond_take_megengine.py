"""mge's dump of ``F.cond_take`` runs in real MegEngine Lite, at masks selecting other
counts than the traced call's (MegEngine's CondTake sizes its outputs while running)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.jit import trace

from ..oracle import requires_oracle, run_in_megengine


@requires_oracle
@pytest.mark.parametrize("seed", [0, 1])
def test_mge_cond_take_dump_runs_in_megengine_lite(tmp_path: Path, seed: int) -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x: mge.Tensor) -> tuple[mge.Tensor, mge.Tensor]:
        values, index = F.cond_take(x > 0, x)
        return values * 2, index

    f(mge.tensor(np.arange(12, dtype="float32").reshape(3, 4) - 5))
    path = tmp_path / "cond_take.mge"
    f.dump(str(path), arg_names=["x"], output_names=["v", "i"])
    x = np.random.default_rng(seed).standard_normal((3, 4)).astype("float32")
    got = run_in_megengine(path, {"x": x})
    np.testing.assert_array_equal(got["i"], np.flatnonzero(x > 0))
    np.testing.assert_allclose(got["v"], x[x > 0] * 2, rtol=1e-6)
