"""ONNX ``NonMaxSuppression`` import (:mod:`mge.convert.onnx.importer.nms`) against ONNX's
reference on random boxes with tied scores, flipped corners and both box formats; the
boxes fed at run time (a deferred node, eager import)."""

from __future__ import annotations

import numpy as np
import pytest

from mge.convert import from_onnx

from .test_semantics import _model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64


@pytest.mark.parametrize("center", [0, 1])
@pytest.mark.parametrize("score_threshold", [None, 0.3])
def test_nms_matches_onnx_reference(center: int, score_threshold: float | None) -> None:
    rng = np.random.default_rng(5)
    boxes = rng.uniform(0, 4, (2, 12, 4)).astype(np.float32)
    if center:
        boxes[..., 2:] = np.abs(boxes[..., 2:])
    scores = rng.choice([0.2, 0.4, 0.6, 0.9], (2, 3, 12)).astype(np.float32)  # many ties
    feeds = {"boxes": boxes, "scores": scores, "limit": np.array([4], np.int64),
             "iou": np.array([0.3], np.float32)}
    if score_threshold is not None:
        feeds["score"] = np.array([score_threshold], np.float32)
    node = helper.make_node("NonMaxSuppression", list(feeds), ["y"], center_point_box=center)
    types = {n: (helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
             for n, v in feeds.items()}
    model = _model([node], types, {"y": (INT64, [None, 3])}, opset=11)
    (want,) = ReferenceEvaluator(model).run(None, feeds)
    got = from_onnx(model, trace=False)(*feeds.values()).numpy()
    assert len(want) > 0 and got.tolist() == want.tolist()
