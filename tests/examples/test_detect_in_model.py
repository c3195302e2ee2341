"""examples/detect_in_model.py: a detector whose .mge crops, preprocesses, scores and runs
NMS (``NMSKeep``: padded indices and their count) on a raw image; mge.lite runs the dump
with the eager outputs, and real MegEngine Lite runs it alike (oracle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from examples import detect_in_model as det
from mge.assets import CAT_PHOTO
from tests.oracle import requires_oracle, run_in_megengine

pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, tuple]:
    path = tmp_path_factory.mktemp("detector") / "detector.mge"
    image = det.read_bgr(str(CAT_PHOTO))
    eager = det.dump_detector(str(path), image)
    return path, image, eager


def _check_same(got: dict[str, np.ndarray], eager: tuple) -> None:
    for name, want in zip(det.OUTPUTS, eager, strict=True):
        assert got[name].shape == want.shape, name
        if name == "ranked_scores":
            np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-6)
        else:
            np.testing.assert_array_equal(got[name].astype(want.dtype), want, err_msg=name)


def test_lite_runs_the_dump_like_eager(dumped: tuple, tmp_path: Path) -> None:
    path, image, eager = dumped
    outputs = det.run_detector(str(path), image)
    _check_same(outputs, eager)
    boxes, scores = det.kept(outputs, min_score=0.3)
    assert 1 <= len(boxes) <= 5 and scores[0] > 0.9 and np.all(np.diff(scores) <= 0)
    x0, y0, x1, y1 = boxes[0]  # the best window holds the cat's face (about x 230, y 150)
    assert x0 < 230 < x1 and y0 < 150 < y1
    png = tmp_path / "boxes.png"
    det.draw(image, boxes, scores, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_windows_and_matrices() -> None:
    boxes = det.windows(100, 200)
    assert boxes.dtype == np.float32 and np.all(boxes[:, 2:] <= [200, 100])
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    import mge

    mats = det.crop_matrices(mge.tensor([[10.0, 20.0, 74.0, 84.0]]), 32).numpy()[0]
    np.testing.assert_allclose(mats, [[2, 0, 10.5], [0, 2, 20.5], [0, 0, 1]])


@requires_oracle
def test_megengine_lite_runs_the_dump(dumped: tuple) -> None:
    path, image, eager = dumped
    got = run_in_megengine(path, {"image": image,
                                  "windows": det.windows(*image.shape[1:3])})
    _check_same(got, eager)
