"""``F.svd``: MegEngine 1.13's CPU outputs, signs included (golden file), the factorization's
properties, refusals, and ``.mge`` both ways (mge.lite reads MegEngine's dump; MegEngine
runs mge's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.jit import trace
from tests.lite.running import lite_outputs
from tests.oracle import golden_arrays, golden_cases, requires_oracle, run_in_megengine

FIXTURES = Path(__file__).parent.parent / "fixtures" / "attention"
GOLDEN = FIXTURES / "oracle.npz"
SVD_CASES = [c for c in golden_cases(GOLDEN) if c["fn"] == "svd"]


@pytest.mark.parametrize("case", SVD_CASES, ids=lambda c: c["id"])
def test_matches_megengine_signs_included(case: dict) -> None:
    got = golden_arrays(GOLDEN, case["id"])
    outs = F.svd(mge.tensor(got["inp"]), **case["kwargs"])
    for k, out in enumerate(outs):  # float32 LAPACK differs by ~1e-5 between CPUs; a sign is O(1)
        np.testing.assert_allclose(out.numpy(), got[f"out{k}"], atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(6, 6), (9, 4), (4, 9), (3, 5, 2)])
def test_factorization(shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    u, s, vh = (t.numpy() for t in F.svd(mge.tensor(x)))
    k = min(shape[-2:])
    assert u.shape == (*shape[:-1], k) and s.shape == (*shape[:-2], k)
    assert vh.shape == (*shape[:-2], k, shape[-1])
    np.testing.assert_allclose(u @ (s[..., None] * vh), x, atol=1e-5)
    np.testing.assert_allclose(s, np.linalg.svd(x, compute_uv=False), atol=1e-5)
    assert (np.diff(s, axis=-1) <= 0).all()
    eye = np.eye(k, dtype=np.float32)
    np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, np.broadcast_to(eye, s.shape + (k,)),
                               atol=1e-5)


def test_values_only_and_refusals() -> None:
    x = mge.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    s = F.svd(x, compute_uv=False)
    np.testing.assert_allclose(s.numpy(), np.linalg.svd(x.numpy(), compute_uv=False),
                               atol=1e-5)
    with pytest.raises(ValueError, match="full_matrices"):
        F.svd(x, full_matrices=True)
    with pytest.raises(ValueError, match=r"\(\.\.\., m, n\)"):
        F.svd(mge.tensor(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="NaN"):
        F.svd(mge.tensor(np.full((2, 2), np.nan, np.float32)))[1].numpy()


def test_lite_reads_megengine_dump() -> None:
    got = golden_arrays(GOLDEN, "dump")
    outs = lite_outputs(FIXTURES / "svd.mge", {"data": got["data"]})
    np.testing.assert_allclose(np.concatenate([o.ravel() for o in outs.values()]), got["out"],
                               atol=5e-6)


def _dump(tmp_path: Path) -> tuple[Path, np.ndarray, list[np.ndarray]]:
    @trace(symbolic=True, capture_as_const=True)
    def fwd(data):  # noqa: ANN001, ANN202
        return F.svd(data)

    x = np.random.default_rng(7).standard_normal((2, 4, 3)).astype(np.float32)
    want = [o.numpy() for o in fwd(mge.tensor(x))]
    path = tmp_path / "svd.mge"
    fwd.dump(str(path), arg_names=["data"])
    return path, x, want


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_dump_runs_in_lite(tmp_path: Path, backend: str) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    path, x, want = _dump(tmp_path)
    for got, ref in zip(lite_outputs(path, {"data": x}, backend).values(), want, strict=True):
        np.testing.assert_allclose(got, ref, atol=1e-6)


@requires_oracle
def test_megengine_runs_our_dump(tmp_path: Path) -> None:
    path, x, want = _dump(tmp_path)
    got = run_in_megengine(path, {"data": x})
    for out, ref in zip(got.values(), want, strict=True):
        np.testing.assert_allclose(out, ref, atol=5e-6)
