"""Vision transforms against real MegEngine 1.13 on the shared photos.

The golden file (``tests/fixtures/data/transforms_megengine.npz``) holds MegEngine's outputs
for every case of ``transform_cases.py`` (made by that script with the oracle). With the
OpenCV version that made it (4.10.0, MegEngine's pin in the oracle) every output is equal
(max abs difference 0 for every transform, measured); other OpenCV versions may round
interpolation and color conversion differently, so they get a tolerance.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mge.data.transform as T
from tests.oracle import REPO, oracle_python, requires_oracle

from .transform_cases import CASES, MEAN, PHOTOS, STD, run_cases

cv2 = pytest.importorskip("cv2", reason="the transforms need OpenCV (the 'vision' extra)")

GOLDEN = REPO / "tests" / "fixtures" / "data" / "transforms_megengine.npz"
IMAGES = REPO.parent / "shared" / "images"
needs_photos = pytest.mark.skipif(not IMAGES.is_dir(), reason=f"shared photos not at {IMAGES}")


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def _same_opencv_as_golden() -> bool:
    """Whether this OpenCV is the one MegEngine's golden outputs were made with."""
    with np.load(GOLDEN) as golden:
        return str(golden["opencv_version"]) == cv2.__version__


@needs_photos
def test_transforms_equal_megengine_on_the_shared_photos() -> None:
    with np.load(GOLDEN) as golden:
        expected = {key: golden[key] for key in golden.files}
    same_opencv = str(expected.pop("opencv_version")) == cv2.__version__
    outputs = run_cases(T, str(IMAGES))
    assert sorted(outputs) == sorted(expected)
    worst: dict[str, float] = {}
    for key, output in outputs.items():
        assert output.shape == expected[key].shape and output.dtype == expected[key].dtype, key
        case = key.split("/")[0]
        worst[case] = max(worst.get(case, 0.0), _max_abs_diff(output, expected[key]))
    assert sorted(worst) == sorted(CASES)
    # uint8 outputs: pixel levels; float outputs (normalized): a level over std ~57
    tolerance = {case: 0.0 if same_opencv else 2.0 for case in worst}
    for case in ("Normalize", "Compose_tutorial", "Pad_float_value"):
        tolerance[case] = 0.0 if same_opencv else 2.0 / 57
    assert {c: d for c, d in worst.items() if d > tolerance[c]} == {}, worst


def test_missing_opencv_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'mge\[vision\]'.*opencv-python-headless"):
        T.Resize(4).apply(np.zeros((8, 8, 3), np.uint8))


def test_boxes_and_masks_follow_the_image() -> None:
    image = np.zeros((10, 20, 3), np.uint8)
    mask = np.zeros((10, 20, 1), np.uint8)
    mask[2:4, 5:9] = 1
    boxes = np.array([[5.0, 2.0, 9.0, 4.0]])
    order = ("image", "boxes", "mask", "boxes_category")
    pipeline = T.Compose(
        [T.RandomHorizontalFlip(1.0), T.Resize((20, 40)), T.Pad(2)], order=order
    )
    out_image, out_boxes, out_mask, category = pipeline.apply((image, boxes, mask, 7))
    assert out_image.shape == (24, 44, 3) and out_mask.shape == (24, 44, 1) and category == 7
    np.testing.assert_allclose(out_boxes, [[24.0, 6.0, 32.0, 10.0]])
    ys, xs = np.nonzero(out_mask[..., 0])
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (24, 32, 6, 10)


def test_argument_errors() -> None:
    with pytest.raises(AssertionError, match="bigger than the image"):
        T.CenterCrop(30).apply(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="3 dims"):
        T.Resize(4).apply(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="hue value"):
        T.HueTransform(0.7)
    with pytest.raises(NotImplementedError, match="masks is unsupported"):
        T.Resize(4, order=("image", "masks"))


TUTORIAL = f"""
import sys
import cv2
import numpy as np
import megengine.data.transform as T
mean, std = {MEAN}, {STD}
transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.Normalize(mean, std), T.ToMode("CHW")])
outputs = {{}}
for path in sys.argv[2:]:
    outputs[path] = transform.apply(cv2.imread(path, cv2.IMREAD_COLOR))
np.savez(sys.argv[1], **{{str(i): outputs[p] for i, p in enumerate(sys.argv[2:])}})
"""


def _run_tutorial(command: list[str], tmp_path: Path, env: dict[str, str]) -> list[np.ndarray]:
    """The tutorial's preprocessing of the shared photos, run by ``command + [script]``."""
    script, out = tmp_path / "tutorial.py", tmp_path / f"{len(os.listdir(tmp_path))}.npz"
    script.write_text(TUTORIAL)
    paths = [str(IMAGES / photo) for photo in PHOTOS]
    subprocess.run([*command, str(script), str(out), *paths], check=True, env=env,
                   capture_output=True, timeout=300)
    with np.load(out) as data:
        return [data[str(i)] for i in range(len(paths))]


@needs_photos
@requires_oracle
def test_lite_tutorial_preprocessing_under_the_alias_equals_megengine(tmp_path: Path) -> None:
    """The MegEngine Lite tutorial's preprocessing on the full-size photos: mge run as
    ``megengine`` (``python -m mge.compat run``) against real MegEngine."""
    env = dict(os.environ, MEGENGINE_INTERP_ASYNC_LEVEL="0", PYTHONPATH=str(REPO))
    expected = _run_tutorial([oracle_python()], tmp_path, env)
    got = _run_tutorial([sys.executable, "-m", "mge.compat", "run"], tmp_path, env)
    diffs = [_max_abs_diff(a, b) for a, b in zip(got, expected)]
    assert all(a.shape == (3, 224, 224) and a.dtype == np.float32 for a in got)
    assert max(diffs) <= (0.0 if _same_opencv_as_golden() else 2.0 / 57), diffs
