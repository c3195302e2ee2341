"""A traced function calling ``F.vision.nms`` dumps as MegEngine's does: ``NMSKeepMGB`` then
``Subtensor`` to the kept count (a var), the later vars without shapes. mge.lite and
GraphInference read the file in stages and real MegEngine Lite runs it: both give the
eager results on new inputs, whatever the kept count."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.jit import trace
from mge.lite import LiteNetwork
from mge.serialization.fbs import read_model
from mge.utils.comp_graph_tools import GraphInference
from tests.oracle import megengine_lite_outputs, requires_oracle


def _boxes_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 50, (n, 2)).astype(np.float32)
    size = rng.uniform(1, 30, (n, 2)).astype(np.float32)
    return np.concatenate([corner, corner + size], 1), rng.random(n).astype(np.float32)


@pytest.fixture(scope="module")
def dumped() -> tuple[object, bytes]:
    @trace(symbolic=False, capture_as_const=True)
    def detect(boxes: mge.Tensor, scores: mge.Tensor) -> tuple[mge.Tensor, mge.Tensor]:
        keep = F.vision.nms(boxes, scores, iou_thresh=0.3, max_output=30)
        return boxes[keep] * 2, scores[keep]

    detect(*(mge.tensor(a) for a in _boxes_scores(40, 0)))
    buf = io.BytesIO()
    detect.dump(buf, arg_names=["boxes", "scores"], optimize_for_inference=False)
    return detect, buf.getvalue()


def _eager(detect: object, boxes: np.ndarray, scores: np.ndarray) -> list[np.ndarray]:
    return [o.numpy() for o in detect(mge.tensor(boxes), mge.tensor(scores))]  # type: ignore[operator]


def test_the_file_is_megengines_form(dumped: tuple[object, bytes]) -> None:
    model = read_model(dumped[1], "nms")
    types = [op.type for op in model.operators]
    k = types.index("NMSKeepMGB")
    sliced = next(op for op in model.operators[k:] if op.type == "Subtensor"
                  and model.operators[k].outputs[1] in op.inputs)
    assert model.vars[sliced.outputs[0]].shape is None  # its length is the kept count
    assert all(model.vars[o.var_id].shape is None for o in model.outputs)


def test_lite_and_graph_inference_match_eager(dumped: tuple[object, bytes]) -> None:
    detect, data = dumped
    network = LiteNetwork()
    network.load(data)
    graph = GraphInference(io.BytesIO(data))
    counts = set()
    for seed in range(6):
        boxes, scores = _boxes_scores(40, seed)
        want = _eager(detect, boxes, scores)
        counts.add(len(want[1]))
        network.get_io_tensor("boxes").set_data_by_copy(boxes)
        network.get_io_tensor("scores").set_data_by_copy(scores)
        network.forward()
        network.wait()
        got = [network.get_io_tensor(n).to_numpy() for n in network.get_all_output_name()]
        by_graph = list(graph.run(boxes, scores).values())
        for g, b, w in zip(got, by_graph, want, strict=True):
            np.testing.assert_array_equal(g, w)
            np.testing.assert_array_equal(b, w)
    assert len(counts) > 1  # the kept count changed between runs


@requires_oracle
def test_megengine_lite_runs_mges_nms_dump(dumped: tuple[object, bytes], tmp_path: Path
                                           ) -> None:
    detect, data = dumped
    (tmp_path / "nms.mge").write_bytes(data)
    for seed in (1, 4):  # 29 and 27 kept
        boxes, scores = _boxes_scores(40, seed)
        got = megengine_lite_outputs(tmp_path / "nms.mge", {"boxes": boxes, "scores": scores},
                                     tmp_path, timeout=300)
        for g, w in zip(got, _eager(detect, boxes, scores), strict=True):
            np.testing.assert_array_equal(g, w)
