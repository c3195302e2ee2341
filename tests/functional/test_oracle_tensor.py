"""F.tensor, F.math and indexing agree with real MegEngine 1.13 (values, dtypes, shapes)
on the expressions of ``tests/fixtures/tensor/cases.py``, whose MegEngine results are in
``oracle.npz`` (made by ``gen_oracle.py`` in that folder)."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F

pytestmark = pytest.mark.usefixtures("each_backend")

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tensor"
CASES = runpy.run_path(str(FIXTURES / "cases.py"))["CASES"]


@pytest.fixture(scope="module")
def oracle() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "oracle.npz") as z:
        return {k: z[k] for k in z.files}


def _put(x: mge.Tensor, index: object, value: object) -> mge.Tensor:
    x[index] = value
    return x


@pytest.mark.parametrize("cid, expr", CASES, ids=[c[0] for c in CASES])
def test_matches_megengine(cid: str, expr: str, oracle: dict[str, np.ndarray]) -> None:
    names = {"np": np, "F": F, "T": mge.tensor, "put": _put,
             **{k: oracle[f"input__{k}"] for k in "AIR"}}
    names["M"] = names["A"] > 0.3
    out = eval(expr, names)  # noqa: S307 - expressions from our fixture file
    outs = out if isinstance(out, (tuple, list)) else (out,)
    wants = [oracle[k] for k in sorted(oracle) if k.rsplit("__", 1)[0] == cid]
    assert len(outs) == len(wants)
    for got, want in zip(outs, wants, strict=True):
        assert (got.shape, got.dtype) == (want.shape, want.dtype), expr
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6, err_msg=expr)
