"""QAT networks dump to MegEngine's fake quantization operators and read back.

A Conv+BN+ReLU net under ``quantize_qat`` with the EMA FakeQuant, TQT and LSQ qconfigs
(``tests/fixtures/quantization/qat_dump.py``: MegEngine 1.13's calibrated state, its
eager outputs and its own dumps ``qat_<qconfig>.mge``):

* mge's eager and traced outputs equal MegEngine's;
* mge's dump lists the operators MegEngine's dump lists (one ``FakeQuant``/``TQT``/``LSQ``
  per fake quantization, not their elementwise steps);
* MegEngine's dumps run in mge (graph interpreter, mge.lite on every plan backend, so
  also through the ONNX lowering);
* mge's dumps run in real MegEngine (with the oracle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mge
from mge.graph.interpreter import Executor
from mge.runtime.plan import available_plan_backends
from mge.serialization.fbs import read_model
from mge.serialization.mge_graph import load_graph
from tests.fixtures.quantization import qat_dump
from tests.lite.running import lite_outputs
from tests.oracle import requires_oracle, run_in_megengine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quantization"
#: operators that hold values, not computations
_HOLDERS = {"ImmutableTensor", "MultipleDeviceTensorHolder", "Host2DeviceCopy"}


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "qat_dumps.npz") as data:
        return dict(data)


def _net(golden: dict[str, np.ndarray], qconfig: str) -> mge.module.Module:
    prefix = f"{qconfig}/state/"
    state = {k[len(prefix):]: v for k, v in golden.items() if k.startswith(prefix)}
    return qat_dump.make(mge, qconfig, state)


def _operators(path: Path) -> list[str]:
    return [op.type for op in read_model(path.read_bytes(), path.name).operators
            if op.type not in _HOLDERS]


@pytest.fixture(scope="module", params=qat_dump.QCONFIGS)
def dumped(request: pytest.FixtureRequest, golden: dict[str, np.ndarray],
           tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, np.ndarray]:
    """``(qconfig, mge's dump, its traced output)``."""
    path = tmp_path_factory.mktemp("qat") / f"{request.param}.mge"
    y = qat_dump.dump(mge, _net(golden, request.param), golden["x"], str(path))
    return request.param, path, y


def test_outputs_are_megengines(golden: dict[str, np.ndarray],
                                dumped: tuple[str, Path, np.ndarray]) -> None:
    qconfig, _, traced = dumped
    assert np.abs(golden[f"{qconfig}/y"]).max() > 0.1  # the grids keep the values
    eager = _net(golden, qconfig)(mge.tensor(golden["x"])).numpy()
    np.testing.assert_allclose(eager, golden[f"{qconfig}/y"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(traced, golden[f"{qconfig}/y"], rtol=1e-6, atol=1e-6)


def test_dump_lists_megengines_operators(dumped: tuple[str, Path, np.ndarray]) -> None:
    qconfig, path, _ = dumped
    theirs = _operators(FIXTURES / f"qat_{qconfig}.mge")
    assert {"ema": "FakeQuant", "tqt": "TQT", "lsq": "LSQ"}[qconfig] in theirs
    assert _operators(path) == theirs


@pytest.mark.parametrize("qconfig", qat_dump.QCONFIGS)
def test_megengines_dump_runs_in_the_interpreter(golden: dict[str, np.ndarray],
                                                 qconfig: str) -> None:
    loaded = load_graph(str(FIXTURES / f"qat_{qconfig}.mge"))
    (out,) = Executor(loaded.graph, "numpy").run(data=golden["x"])
    np.testing.assert_allclose(np.asarray(out), golden[f"{qconfig}/y"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", available_plan_backends())
@pytest.mark.parametrize("qconfig", qat_dump.QCONFIGS)
def test_megengines_dump_runs_in_lite(golden: dict[str, np.ndarray], qconfig: str,
                                      backend: str) -> None:
    outs = lite_outputs(FIXTURES / f"qat_{qconfig}.mge", {"data": golden["x"]}, backend)
    np.testing.assert_allclose(outs["out"], golden[f"{qconfig}/y"], rtol=1e-5, atol=1e-5)


@requires_oracle
def test_megengine_runs_our_dump(golden: dict[str, np.ndarray],
                                 dumped: tuple[str, Path, np.ndarray]) -> None:
    qconfig, path, _ = dumped
    (out,) = run_in_megengine(path, {"data": golden["x"]}).values()
    np.testing.assert_allclose(out, golden[f"{qconfig}/y"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("qconfig", qat_dump.QCONFIGS)
def test_megengines_dump_exports_to_onnx_with_a_free_batch(golden: dict[str, np.ndarray],
                                                           qconfig: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    from mge.convert import to_onnx

    path = FIXTURES / f"qat_{qconfig}.mge"
    model = to_onnx(str(path), dynamic_batch=True)
    x = np.concatenate([golden["x"], golden["x"][:, :, ::-1], -golden["x"]])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    run = Executor(load_graph(str(path)).graph, "numpy").run
    want = np.concatenate([np.asarray(run(data=one)[0]) for one in np.split(x, len(x))])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
