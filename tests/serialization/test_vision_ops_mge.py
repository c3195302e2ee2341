"""``.mge`` both ways for the detection, remap, colour and 3-d resize ops.

* MegEngine 1.13's own dumps of small nets using them (``detection_nets.npz``, made by
  ``tests/fixtures/vision/gen_detection_oracle.py``) load and run in mge with
  MegEngine's outputs.
* mge's dumps of each op run in real MegEngine (Lite) with mge's outputs (oracle).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from mge.graph import Graph
from mge.runtime.executor import Executor
from mge.serialization.mge_graph import MgeFormatError, dump_graph, load_graph
from tests.ops.cases_detection import CASES
from tests.ops.cases_vision import CASES as IMAGE_CASES
from tests.oracle import requires_oracle, run_in_megengine

NETS = Path(__file__).parents[1] / "fixtures" / "vision" / "detection_nets.npz"


def _net(name: str) -> dict[str, np.ndarray]:
    with np.load(NETS) as z:
        return {k.split("__", 1)[1]: z[k] for k in z.files if k.startswith(name + "__")}


@pytest.mark.parametrize("name", ["roi", "image", "corr"])
def test_megengine_dumps_run_like_megengine(name: str) -> None:
    arrays = _net(name)
    loaded = load_graph(io.BytesIO(arrays["file"].tobytes()))
    loaded.graph.lint()
    feeds = {k.split("__")[1]: v for k, v in arrays.items() if k.startswith("in__")}
    outs = Executor(loaded.graph, "numpy").run(**feeds)
    names = list(loaded.output_vars_dict)
    assert names == [k.split("__")[1] for k in arrays if k.startswith("out__")]
    for key, got in zip(names, outs, strict=True):
        want = arrays[f"out__{key}"]
        assert got.shape == want.shape and got.dtype == want.dtype, key
        np.testing.assert_allclose(got, want, atol=0 if want.dtype == np.uint8 else 1e-6,
                                   rtol=0, err_msg=f"{name}/{key}")


def test_megengine_nms_dump_needs_dynamic_shapes() -> None:
    """MegEngine's traced ``nms`` slices the kept indices by the count NMSKeep computes,
    a shape known only at run time: one static graph cannot hold it, and says so
    (``mge.lite`` runs such files in stages: tests/lite/test_dynamic_shapes.py)."""
    arrays = _net("nms")
    with pytest.raises(MgeFormatError, match="Subtensor.*depends on input values"):
        load_graph(io.BytesIO(arrays["file"].tobytes()))


#: one case per op, every layout family (the op table has the rest)
ORACLE_IDS = {
    "NMSKeep-0.3-12", "ROIAlign-AVERAGE-offset0.5-sample3", "ROIAlign-MAX-offset0.0-sample3",
    "ROIPooling-MAX-0.37", "ROIPooling-AVERAGE-1.0", "Correlation-k3-d2-s21-p2-False",
    "DeformablePSROIPooling-notransFalse-spp3",
    "WarpAffine-NHWC3-uint8-REFLECT-LINEAR", "WarpAffine-NCHW7-float32-CONSTANT-LINEAR",
    "WarpAffine-NHWC3-float32-CONSTANT-NEAREST", "Remap-NCHW-uint8-CONSTANT-LINEAR",
    "Remap-NCHW-float32-REFLECT_101-NEAREST", "CvtColor-YUV2BGR_NV21-uint8",
    "CvtColor-RGB2YUV-float32", "CvtColor-BGR2GRAY-uint8", "Resize3D-float32-5x3x7-acFalse",
    "Resize3D-float32-1x2x6-acTrue"}
ORACLE_CASES = [c for c in CASES + IMAGE_CASES if c.id in ORACLE_IDS]


def test_oracle_cases_exist() -> None:
    assert {c.id for c in ORACLE_CASES} == ORACLE_IDS


@requires_oracle
def test_megengine_runs_mge_dumps(tmp_path: Path) -> None:
    """One file holding one op of each case (MegEngine starts once)."""
    g, feeds = Graph(), {}
    for k, case in enumerate(ORACLE_CASES):
        names = [f"c{k}_in{j}" for j in range(len(case.inputs))]
        feeds.update(zip(names, case.inputs, strict=True))
        out = g.add_op(case.op, [g.add_input(n, x.shape, x.dtype)
                                 for n, x in zip(names, case.inputs, strict=True)])[0]
        out.name = f"c{k}_out"
        g.outputs.append(out)
    path = tmp_path / "ops.mge"
    path.write_bytes(dump_graph(g)[0])
    ours = Executor(g, "numpy").run(**feeds)
    theirs = run_in_megengine(path, feeds)
    for k, (case, want) in enumerate(zip(ORACLE_CASES, ours, strict=True)):
        got = theirs[f"c{k}_out"]
        assert got.shape == want.shape and got.dtype == want.dtype, case.id
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   atol=0 if want.dtype.kind in "iu" else 1e-5, rtol=0,
                                   err_msg=case.id)
