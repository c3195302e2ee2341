"""mge.assets: the shipped files are the ones NOTICE.md describes."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
from PIL import Image

from mge.assets import ASSETS_DIR, CAT_PHOTO, IMAGENET_LABELS, MOBILENET_V1, imagenet_labels
from tests.examples.shared_data import IMAGES, MODELS, requires_shared

NOTICE = (ASSETS_DIR / "NOTICE.md").read_text(encoding="utf-8")


def _notice_sha256(name: str) -> str:
    row = next(line for line in NOTICE.splitlines() if line.startswith(f"| `{name}`"))
    return row.rstrip(" |").rsplit("|", 1)[1].strip()


@pytest.mark.parametrize("path", [MOBILENET_V1, IMAGENET_LABELS, CAT_PHOTO])
def test_files_match_their_notice(path) -> None:  # noqa: ANN001
    assert hashlib.sha256(path.read_bytes()).hexdigest() == _notice_sha256(path.name)
    assert (ASSETS_DIR / "LICENSE-Apache-2.0.txt").read_text().count("Apache License") >= 1


def test_labels() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1001 and labels[0] == "background"
    assert labels[283] == "tiger cat" and labels[286] == "Egyptian cat"


def test_photo_pixels_match_the_notice() -> None:
    pixels = np.asarray(Image.open(CAT_PHOTO).convert("RGB"))
    assert pixels.shape == (341, 512, 3)
    digest = hashlib.sha256(pixels.tobytes()).hexdigest()
    assert re.search(rf"decoded RGB pixels .* is {digest} for both", NOTICE, re.S)


@requires_shared
def test_same_as_the_shared_files() -> None:
    assert MOBILENET_V1.read_bytes() == (MODELS / MOBILENET_V1.name).read_bytes()
    assert IMAGENET_LABELS.read_bytes() == (MODELS / "imagenet_labels_1001.txt").read_bytes()
    np.testing.assert_array_equal(np.asarray(Image.open(CAT_PHOTO)),
                                  np.asarray(Image.open(IMAGES / "cat.bmp")))
