"""ONNX export of the detection, remap and colour ops, run by onnxruntime.

The op table checks every case against numpy; here: NMS on crowded boxes (many
suppressions, the ``max_output`` cap, padding with the last kept index) through its ONNX
``Loop``, out-of-range roi batch indices failing at run time instead of wrapping, and the
exporter's numpy-style indexing with index arrays between full slices.
"""

from __future__ import annotations

import numpy as np
import pytest

from mge.backends import get_backend
from mge.ops.vision.detection import NMSKeep, ROIAlignForward, ROIPoolingForward

pytest.importorskip("onnxruntime")


def _ort(op, *inputs):  # noqa: ANN001, ANN002, ANN202
    backend = get_backend("onnxruntime")
    out = backend.run(op, [backend.asarray(x) for x in inputs])
    return tuple(backend.to_numpy(o) for o in (out if isinstance(out, tuple) else (out,)))


def _crowd(batch: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, 40, (batch, 3, 2))[:, rng.integers(0, 3, n)]  # 3 clusters
    centers += rng.normal(0, 1.5, centers.shape)
    half = rng.uniform(2, 6, (batch, n, 2))
    return np.concatenate([centers - half, centers + half], -1).astype(np.float32)


@pytest.mark.parametrize(("thresh", "max_output"), [(0.3, 40), (0.5, 5), (0.7, 2), (0.0, 64)])
def test_nms_loop_matches_the_greedy_kernel(thresh: float, max_output: int) -> None:
    boxes = _crowd(3, 40, seed=int(thresh * 10) + max_output)
    op = NMSKeep(iou_thresh=thresh, max_output=max_output)
    want = get_backend("numpy").run(op, [boxes])
    got = _ort(op, boxes)
    assert 0 < want[1].min() and want[1].max() < 40  # some boxes kept, some suppressed
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def test_nms_with_max_output_zero_is_refused() -> None:
    with pytest.raises(NotImplementedError, match="max_output=0"):
        _ort(NMSKeep(iou_thresh=0.5, max_output=0), _crowd(1, 4, seed=0))


@pytest.mark.parametrize("op", [ROIAlignForward(pooled_height=2, pooled_width=2),
                                ROIPoolingForward(dsize=(2, 2))])
@pytest.mark.parametrize("index", [-1.0, 2.0])
def test_roi_batch_index_out_of_range_fails_at_run_time(op, index: float) -> None:  # noqa: ANN001
    feat = np.ones((2, 3, 5, 5), np.float32)
    rois = np.array([[0, 0, 0, 3, 3], [index, 1, 1, 4, 4]], np.float32)
    with pytest.raises(IndexError, match="roi batch indices"):
        get_backend("numpy").run(op, [feat, rois])
    with pytest.raises(Exception, match="(?i)indices|out of bounds|invalid"):
        _ort(op, feat, rois)


def test_mixed_advanced_indexing_follows_numpy() -> None:
    from mge.convert.onnx.exporter.sym import OnnxBuilder

    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    i, j = np.array([[1], [0]]), np.array([2, 3, 0])
    b = OnnxBuilder(opset=13)
    sx = b.input("x", x.shape, x.dtype)
    si, sj = b.const(i), b.const(j)
    keys = [(slice(None), si, sj), (si, slice(None), sj), (slice(None), slice(None), si, sj),
            (si, slice(None), sj, slice(None))]
    np_keys = [(slice(None), i, j), (i, slice(None), j), (slice(None), slice(None), i, j),
               (i, slice(None), j, slice(None))]
    outs = [sx[k] for k in keys]
    graph = onnx.helper.make_graph(
        b.nodes, "g", [onnx.helper.make_tensor_value_info("x", 1, x.shape)],
        [onnx.helper.make_tensor_value_info(o.name, 1, o.shape) for o in outs],
        list(b.initializers.values()))
    opsets = [onnx.helper.make_opsetid("", 13)]
    model = onnx.helper.make_model(graph, opset_imports=opsets)
    model.ir_version = onnx.helper.find_min_ir_version_for(opsets)  # older onnxruntime too
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for got, key in zip(sess.run(None, {"x": x}), np_keys, strict=True):
        np.testing.assert_array_equal(got, x[key], err_msg=str(key))
