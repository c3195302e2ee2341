"""Table-driven op test: every registered op, every backend, against the numpy reference.

Cases come from ``tests/ops/cases_*.py`` (each defines ``CASES``). For each case and
backend: run the kernel on contiguous and on non-contiguous inputs, compare with the
numpy backend, and check shapes and dtypes against ``infer``.
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

import mge  # noqa: F401  (registers ops)
from mge.backends import available_backends, load_backend
from mge.core.opdef import REGISTRY, TensorInfo

from . import __path__ as _pkg_path
from .optable import OpCase

CASES: list[OpCase] = []
for _mod in sorted(m.name for m in pkgutil.iter_modules(_pkg_path)):
    if _mod.startswith("cases_"):
        CASES += importlib.import_module(f"{__package__}.{_mod}").CASES

BACKENDS = available_backends(every=True)
#: (backend, op type) -> why that backend cannot run the op; the test checks that it
#: refuses with NotImplementedError (so the entry goes once the gap is closed)
KNOWN_GAPS = {
    ("onnxruntime", "AssertEqual"): "ONNX has no assertion op: a graph cannot fail a run",
}


def _noncontiguous(backend, arr: np.ndarray):  # noqa: ANN001, ANN202
    """The same values as a strided (non-contiguous) backend array."""
    if arr.ndim == 0 or arr.size == 0:
        return backend.asarray(arr)
    wide = np.repeat(arr, 2, axis=-1)
    big = backend.asarray(np.ascontiguousarray(wide))
    return big[..., ::2]


def _run(backend, case: OpCase, noncontig: bool) -> list[np.ndarray]:  # noqa: ANN001
    arrays = [_noncontiguous(backend, x) if noncontig else backend.asarray(x.copy())
              for x in case.inputs]
    out = backend.run(case.op, arrays)
    n_out = len(case.op.infer([TensorInfo(x.shape, x.dtype) for x in case.inputs]))
    outs = (out,) if n_out == 1 else out
    return [backend.to_numpy(o) for o in outs]


def _reference(case: OpCase) -> list[np.ndarray]:
    return _run(load_backend("numpy"), case, noncontig=False)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_matches_numpy(case: OpCase, backend_name: str) -> None:
    infos = case.op.infer([TensorInfo(x.shape, x.dtype) for x in case.inputs])
    ref = _reference(case)
    backend = load_backend(backend_name)
    if (backend_name, case.op.type_name) in KNOWN_GAPS:
        with pytest.raises(NotImplementedError):
            _run(backend, case, noncontig=False)
        return
    for noncontig in (False, True):
        got = _run(backend, case, noncontig)
        assert len(got) == len(infos)
        for g, r, info in zip(got, ref, infos):
            assert tuple(g.shape) == tuple(info.shape), f"{case.id}: shape vs infer"
            assert g.dtype == info.dtype, f"{case.id}: dtype {g.dtype} vs infer {info.dtype}"
            np.testing.assert_allclose(
                g.astype(np.float64), r.astype(np.float64), atol=case.atol, rtol=case.rtol,
                equal_nan=True, err_msg=f"{case.id} on {backend_name} (noncontig={noncontig})",
            )


def test_every_op_has_a_case() -> None:
    covered = {c.op.type_name for c in CASES}
    missing = sorted(set(REGISTRY) - covered)
    assert not missing, f"ops without an op-table case: {missing}"


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_every_op_has_a_kernel(backend_name: str) -> None:
    missing = sorted(set(REGISTRY) - set(load_backend(backend_name).kernels))
    assert not missing, f"{backend_name} lacks kernels for {missing}"
