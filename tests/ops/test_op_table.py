"""Table-driven op test: every registered op, every backend and every plan backend,
against the numpy reference.

Cases come from ``tests/ops/cases_*.py`` (each defines ``CASES``). For each case:

* every eager backend runs the kernel on contiguous and non-contiguous inputs;
* every plan backend runs a one-op graph twice: all inputs fed, and every input after
  the first a constant (the prepared paths: packed filters, folded tables);
* a NaN/Inf variant of each case with float data puts NaN, +Inf and -Inf into its first
  float input: every backend must propagate them exactly as numpy does.

Outputs are compared with the numpy backend (NaN equal to NaN) and checked against the
op's ``infer`` rule.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import numpy as np
import pytest

import mge  # noqa: F401  (registers ops)
from mge.backends import available_backends, load_backend
from mge.core.opdef import REGISTRY, TensorInfo
from mge.graph.ir import Graph
from mge.runtime.plan import Plan, PlanOptions, available_plan_backends

from . import __path__ as _pkg_path
from .optable import OpCase, with_nonfinite

CASES: list[OpCase] = []
for _mod in sorted(m.name for m in pkgutil.iter_modules(_pkg_path)):
    if _mod.startswith("cases_"):
        CASES += importlib.import_module(f"{__package__}.{_mod}").CASES
NAN_CASES = [c for c in map(with_nonfinite, CASES) if c is not None]

BACKENDS = available_backends(every=True)
PLAN_BACKENDS = available_plan_backends()
#: (backend, op type) -> why that backend cannot run the op; the test checks that it
#: refuses with NotImplementedError (so the entry goes once the gap is closed)
KNOWN_GAPS = {
    ("onnxruntime", "AssertEqual"): "ONNX has no assertion op: a graph cannot fail a run",
}
KNOWN_GAPS.update({
    ("onnxruntime", name): "random ops are not exported to ONNX (mge.ops.random.onnx_export)"
    for name in ("UniformRNG", "GaussianRNG", "GammaRNG", "BetaRNG", "PoissonRNG",
                 "PermutationRNG", "ShuffleRNG")
})
KNOWN_GAPS[("onnxruntime", "IndexingIncrMultiAxisVec")] = (
    "a scatter-add needs ScatterND's reduction (opset 16); the backend exports opset 13")
KNOWN_GAPS[("onnxruntime", "LAMBUpdate")] = "an optimizer step: ONNX models do not hold it"
KNOWN_GAPS[("onnxruntime", "MatrixInverse")] = (
    "ONNX has no matrix inverse (only onnxruntime's com.microsoft Inverse, not standard)")
KNOWN_GAPS[("onnxruntime", "SVD")] = (
    "ONNX has no SVD (and MegEngine's singular-vector signs come from its own iteration)")
KNOWN_GAPS[("onnxruntime", "DeformableConvForward")] = (
    "ONNX's DeformConv needs opset 19; this table exports at 13 (test_export_onnx checks 19)")
KNOWN_GAPS.update({
    ("onnxruntime", name): "a training op (a gradient): no ONNX lowering written"
    for name in ("ConvolutionBackwardFilter", "BatchNormBackward", "PoolingBackward",
                 "DeformableConvBackwardData", "DeformableConvBackwardFilter")
})
#: (backend, case id) -> why that backend loses NaN there; the test checks that the gap
#: is still real (the entry goes once it is closed)
NAN_GAPS = {
    ("onnxruntime", case): "onnxruntime's MaxPool skips NaN; the ONNX exporter "
    "(mge/convert, being restructured for issue 12) must guard max pooling"
    for case in ("Pooling-MAX-pad-nonfinite", "Pooling-MAX-wide-pad-nonfinite",
                 "PoolingForward-[1, 3, 8, 8]-nonfinite", "AdaptivePooling-global-max-nonfinite")
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
    with np.errstate(all="ignore"):
        out = backend.run(case.op, arrays)
    n_out = len(case.op.infer([TensorInfo(x.shape, x.dtype) for x in case.inputs]))
    outs = (out,) if n_out == 1 else out
    return [backend.to_numpy(o) for o in outs]


def _reference(case: OpCase) -> list[np.ndarray]:
    return _run(load_backend("numpy"), case, noncontig=False)


def _compare(case: OpCase, got: list[np.ndarray], ref: list[np.ndarray], where: str) -> None:
    infos = case.op.infer([TensorInfo(x.shape, x.dtype) for x in case.inputs])
    assert len(got) == len(infos)
    for g, r, info in zip(got, ref, infos, strict=True):
        if where.startswith("plan") and info.shape == () and g.shape == (1,):
            g = g.reshape(())  # plans answer MegEngine shapes: it has no 0-d tensors
        assert tuple(g.shape) == tuple(info.shape), f"{case.id} on {where}: shape vs infer"
        assert g.dtype == info.dtype, f"{case.id} on {where}: dtype {g.dtype} vs {info.dtype}"
        np.testing.assert_allclose(
            g.astype(np.float64), r.astype(np.float64), atol=case.atol, rtol=case.rtol,
            equal_nan=True, err_msg=f"{case.id} on {where}")


def _reference_error(case: OpCase) -> type[Exception] | None:
    """The exception the numpy reference raises on ``case`` (an assertion that fails on
    NaN), or ``None`` when it runs."""
    try:
        _reference(case)
    except (AssertionError, ValueError, RuntimeError) as exc:
        return type(exc)
    return None


def _check_backend(case: OpCase, backend_name: str) -> None:
    backend = load_backend(backend_name)
    if (backend_name, case.op.type_name) in KNOWN_GAPS:
        with pytest.raises(NotImplementedError):
            _run(backend, case, noncontig=False)
        return
    error = _reference_error(case)
    if error is not None:
        with pytest.raises(error):
            _run(backend, case, noncontig=False)
        return
    ref = _reference(case)
    for noncontig in (False, True):
        _compare(case, _run(backend, case, noncontig), ref,
                 f"{backend_name} (noncontig={noncontig})")


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_matches_numpy(case: OpCase, backend_name: str) -> None:
    _check_backend(case, backend_name)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("case", NAN_CASES, ids=lambda c: c.id)
def test_op_propagates_nan_and_inf(case: OpCase, backend_name: str) -> None:
    if (backend_name, case.id) in NAN_GAPS:
        with pytest.raises(AssertionError, match="nan location mismatch"):
            _check_backend(case, backend_name)
        return
    _check_backend(case, backend_name)


def _one_op_graph(case: OpCase, consts: bool) -> tuple[Graph, list[np.ndarray]]:
    """A graph running ``case.op``; with ``consts``, inputs after the first are constants."""
    graph, feeds, inputs = Graph(), [], []
    for k, x in enumerate(case.inputs):
        if consts and k > 0:
            inputs.append(graph.add_const(x))
        else:
            inputs.append(graph.add_input(f"x{k}", x.shape, x.dtype))
            feeds.append(x)
    graph.outputs = graph.add_op(case.op, inputs)
    return graph, feeds


@pytest.mark.parametrize("backend_name", PLAN_BACKENDS)
@pytest.mark.parametrize("case", CASES + NAN_CASES, ids=lambda c: c.id)
def test_op_in_every_plan_backend(case: OpCase, backend_name: str) -> None:
    if (backend_name, case.op.type_name) in KNOWN_GAPS:
        pytest.skip(KNOWN_GAPS[backend_name, case.op.type_name])
    error = _reference_error(case)
    ref = None if error is not None else _reference(case)
    if (backend_name, case.id) in NAN_GAPS:
        graph, feeds = _one_op_graph(case, False)
        got = Plan(graph, PlanOptions(backend=backend_name)).run_feeds(feeds)
        with pytest.raises(AssertionError, match="nan location mismatch"):
            _compare(case, got, ref, f"plan {backend_name}")
        return
    for consts in (False, True) if len(case.inputs) > 1 else (False,):
        graph, feeds = _one_op_graph(case, consts)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # an op ONNX cannot express falls back, warned
            plan = Plan(graph, PlanOptions(backend=backend_name))
            if error is not None:
                with pytest.raises(error):
                    plan.run_feeds(feeds)
                continue
            got = plan.run_feeds(feeds)
        _compare(case, got, ref, f"plan {backend_name} (constants={consts})")


#: ops whose inputs must carry quantization parameters, which this table's arrays lose
#: through the backends: their cases are in test_quantized_kernels.py and tests/lite
QUANTIZED_ONLY = {"ElemwiseMultiType"}


def test_every_op_has_a_case() -> None:
    covered = {c.op.type_name for c in CASES} | QUANTIZED_ONLY
    missing = sorted(set(REGISTRY) - covered)
    assert not missing, f"ops without an op-table case: {missing}"


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_every_op_has_a_kernel(backend_name: str) -> None:
    have = load_backend(backend_name).kernels
    missing = sorted(name for name, cls in REGISTRY.items() if cls not in have)
    assert not missing, f"{backend_name} lacks kernels for {missing}"


