"""mge.demo.image: the reference recipe (resize the shorter side, center crop, normalize)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mge.assets import CAT_PHOTO
from mge.demo import load_image, preprocess
from tests.examples.shared_data import IMAGES, REFERENCE, requires_shared


@requires_shared
@pytest.mark.parametrize("photo", [CAT_PHOTO, IMAGES / "cat.bmp"])
def test_preprocess_is_the_reference_tensor(photo: Path) -> None:
    np.testing.assert_array_equal(preprocess(photo, 128), np.load(REFERENCE / "cat_128.npy"))


def test_load_image_crops_the_center(tmp_path: Path) -> None:
    pixels = np.zeros((40, 100, 3), np.uint8)
    pixels[:, 30:70] = [200, 100, 0]          # a band exactly as wide as the crop
    Image.fromarray(pixels).save(tmp_path / "band.png")
    crop = load_image(tmp_path / "band.png", 40)
    assert crop.shape == (40, 40, 3) and crop.dtype == np.uint8
    assert (crop == [200, 100, 0]).all()
    data = preprocess(tmp_path / "band.png", 40)
    assert data.shape == (1, 3, 40, 40) and data.dtype == np.float32
    np.testing.assert_allclose(data[0, :, 0, 0], [200 / 127.5 - 1, 100 / 127.5 - 1, -1])


def test_small_images_are_enlarged(tmp_path: Path) -> None:
    Image.new("L", (30, 20), 7).save(tmp_path / "small.png")   # gray becomes RGB too
    assert (load_image(tmp_path / "small.png", 64) == 7).all()
    assert load_image(tmp_path / "small.png", 64).shape == (64, 64, 3)


def test_a_file_that_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="x.png.* is not an image file Pillow can read"):
        load_image(tmp_path / "x.png", 8)
