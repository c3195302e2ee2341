"""F.vision.nms / roi_align / roi_pooling / warp_affine / remap / cvt_color / correlation.

Checked on every backend against real MegEngine 1.13's outputs
(``tests/fixtures/vision/detection.npz``, made by ``gen_detection_oracle.py`` there):
random inputs and edge cases (empty, all-overlapping, outside and degenerate boxes, score
and IoU ties, sampling ratios, border modes). Tolerances: integer outputs (indices,
uint8 images) exact; float32 1e-6 absolute except where MegEngine sums in an order of
its own (RoI average pooling: 1e-6 relative to values of magnitude ~2). Also: traced
graphs and argument errors.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
from mge.core.opdef import OpError
from mge.jit import trace

FIXTURE = Path(__file__).parent.parent / "fixtures" / "vision" / "detection.npz"


#: every test runs once per available backend (``tests/conftest.py``)
pytestmark = pytest.mark.usefixtures("each_backend")


@functools.cache
def _fixture() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as z:
        return {k: z[k] for k in z.files}


def _cases() -> list[dict]:
    return json.loads(str(_fixture()["__meta__"]))


def _inputs(case: dict) -> list[np.ndarray]:
    return [_fixture()[key] for key in case["args"].values()]


def _expected(case: dict) -> np.ndarray:
    return _fixture()[case["id"] + "__out"]


def _call(case: dict) -> np.ndarray:
    kwargs = dict(case["kwargs"])
    if "out_shape" in kwargs:
        kwargs["out_shape"] = tuple(kwargs["out_shape"])
    fn = getattr(F.vision, case["fn"], None) or getattr(F.nn, case["fn"])
    return fn(*(mge.tensor(a) for a in _inputs(case)), **kwargs).numpy()


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["id"])
def test_matches_megengine(case: dict) -> None:
    if "error" in case:
        with pytest.raises((ValueError, TypeError, OpError)):
            _call(case)
        return
    want = _expected(case)
    got = _call(case)
    assert got.shape == want.shape and got.dtype == want.dtype, case["id"]
    atol = 0 if want.dtype.kind in "iu" else 1e-6
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), atol=atol,
                               rtol=0, err_msg=case["id"])


def test_nms_docstring_example() -> None:
    x = np.zeros((100, 4))
    np.random.seed(42)
    x[:, :2] = np.random.rand(100, 2) * 20
    x[:, 2:] = np.random.rand(100, 2) * 20 + 100
    scores = mge.tensor(np.random.rand(100))
    keep = F.vision.nms(mge.tensor(x), scores, iou_thresh=0.7)
    np.testing.assert_array_equal(keep.numpy(), [75, 69])


@pytest.mark.parametrize("symbolic", [True, False])
def test_traced_nms_runs_every_call(symbolic: bool) -> None:
    """The kept count is data: later calls of a traced function compute it again (the
    dump, read in stages, is tested in tests/functional/test_nms_dump.py)."""
    boxes = mge.tensor([[0, 0, 100, 100], [10, 10, 100, 100], [50, 50, 100, 100],
                        [100, 100, 150, 150]])

    @trace(symbolic=symbolic, capture_as_const=True)
    def traced(b: mge.Tensor, s: mge.Tensor) -> mge.Tensor:
        return F.vision.nms(b, s, iou_thresh=0.5, max_output=4) * 1

    near = mge.tensor([[0, 0, 100, 100], [10, 10, 100, 100], [5, 5, 100, 100],
                       [100, 100, 150, 150]])  # box 2 now overlaps box 0: 2 kept
    for b, scores, want in ((boxes, [0.5, 0.8, 0.9, 0.6], [2, 1, 3]),
                            (boxes, [0.9, 0.8, 0.5, 0.6], [0, 3, 2]),
                            (near, [0.9, 0.8, 0.7, 0.6], [0, 3]),
                            (boxes, [0.5, 0.8, 0.9, 0.6], [2, 1, 3])):
        np.testing.assert_array_equal(traced(b, mge.tensor(scores)).numpy(), want)


def test_roi_docstring_examples() -> None:
    np.random.seed(42)
    inp = mge.tensor(np.random.randn(1, 1, 128, 128))
    rois = mge.tensor(np.random.random((4, 5)))
    pooled = F.vision.roi_pooling(inp, rois, (2, 2))
    np.testing.assert_allclose(pooled.numpy()[0].round(decimals=4),
                               [[[-0.1383, -0.1383], [-0.5035, -0.5035]]])
    aligned = F.vision.roi_align(inp, rois, (2, 2))
    np.testing.assert_allclose(aligned.numpy()[0].round(decimals=4),
                               [[[0.175, 0.175], [0.1359, 0.1359]]])


def test_cvt_color_rgb2gray_megengine_example() -> None:
    x = mge.tensor(np.array([[[[-0.58675045, 1.7526233, 0.10702174]]]], np.float32))
    np.testing.assert_allclose(F.vision.cvt_color(x, mode="RGB2GRAY").numpy(), [[[[0.86555195]]]],
                               rtol=1e-6)


def test_traced_roi_align_and_warp_affine_match_eager() -> None:
    rng = np.random.default_rng(3)
    feat = rng.standard_normal((1, 2, 8, 8)).astype(np.float32)
    rois = np.array([[0, 1, 1, 6, 5], [0, -2, 0, 3, 9]], np.float32)
    img = rng.integers(0, 256, (1, 8, 8, 3)).astype(np.uint8)
    mat = np.array([[[0.9, 0.1, 1], [-0.1, 1.1, 0]]], np.float32)

    def net(f, r, i, m):  # noqa: ANN001, ANN202
        return (F.vision.roi_align(f, r, (2, 3), sample_points=3),
                F.vision.warp_affine(i, m, (6, 7), border_mode="constant"))

    traced = trace(net, symbolic=True, capture_as_const=True)
    args = [mge.tensor(a) for a in (feat, rois, img, mat)]
    for got, want in zip(traced(*args), net(*args), strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize(("call", "match"), [
    (lambda: F.vision.nms(mge.tensor(np.zeros((3, 5))), mge.tensor(np.zeros(3)), 0.5),
     r"\(N, 4\)"),
    (lambda: F.vision.nms(mge.tensor(np.zeros((3, 4))), mge.tensor(np.zeros(2)), 0.5),
     "not matched"),
    (lambda: F.vision.roi_align(mge.tensor(np.zeros((1, 1, 4, 4))), mge.tensor(np.zeros((2, 4))),
                                2), r"\(k, 5\)"),
    (lambda: F.vision.roi_pooling(mge.tensor(np.zeros((1, 1, 4, 4))),
                                  mge.tensor(np.zeros((2, 5))), 2, mode="min"), "max/average"),
    (lambda: F.vision.warp_affine(mge.tensor(np.zeros((1, 4, 4, 3))), mge.tensor(np.eye(3)[None]),
                                  (2, 2)), r"\(1, 2, 3\)"),
    (lambda: F.vision.remap(mge.tensor(np.zeros((1, 1, 4, 4))), mge.tensor(np.zeros((1, 2, 2))),),
     "map_xy"),
    (lambda: F.vision.cvt_color(mge.tensor(np.zeros((1, 2, 2, 3), np.uint8)), mode="HSV2RGB"),
     "unsupported mode"),
    (lambda: F.vision.correlation(mge.tensor(np.zeros((1, 1, 4, 4))),
                                  mge.tensor(np.zeros((1, 1, 4, 5)))), "one shape"),
])
def test_argument_errors(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(("call", "match"), [
    (lambda: F.vision.cvt_color(mge.tensor(np.zeros((1, 2, 2, 4), np.float32)), "RGBA2RGB"),
     "needs uint8"),
    (lambda: F.vision.cvt_color(mge.tensor(np.zeros((1, 5, 4, 1), np.uint8)), "YUV2RGB_NV21"),
     "multiple of 3"),
    (lambda: F.vision.roi_align(mge.tensor(np.zeros((1, 1, 4, 4))),
                                mge.tensor([[1.0, 0, 0, 2, 2]]), 2), "batch indices"),
    (lambda: F.vision.correlation(mge.tensor(np.zeros((1, 1, 3, 3))),
                                  mge.tensor(np.zeros((1, 1, 3, 3))), max_displacement=3),
     "output would be empty"),
])
def test_op_errors(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises((OpError, IndexError), match=match):
        call()
