"""Photos for the demo's classifiers: decode, resize, crop (the shared models' recipe).

The recipe of the bundled MobileNet's reference numbers (``mge/assets/NOTICE.md``): RGB,
shorter side to ``size`` with Pillow's bilinear filter, center crop ``size`` x ``size``.
:func:`load_image` stops there (uint8 pixels, what the demo's model takes);
:func:`preprocess` also normalizes (``pixel / 127.5 - 1``, NCHW float32), what the ONNX
model itself takes.

Example:
    >>> from mge.assets import CAT_PHOTO
    >>> load_image(CAT_PHOTO, 128).shape, load_image(CAT_PHOTO, 128).dtype
    ((128, 128, 3), dtype('uint8'))
    >>> preprocess(CAT_PHOTO, 128).shape
    (1, 3, 128, 128)
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, UnidentifiedImageError


def load_image(path: str | os.PathLike[str], size: int) -> np.ndarray:
    """The photo at ``path`` as uint8 RGB ``(size, size, 3)``: shorter side resized to
    ``size`` (Pillow ``BILINEAR``), then the center ``size`` x ``size`` crop.

    Raises:
        ValueError: ``path`` is not an image Pillow can read.
    """
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except UnidentifiedImageError:
        raise ValueError(f"{os.fspath(path)!r} is not an image file Pillow can read") from None
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                     Image.BILINEAR)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def preprocess(image: str | os.PathLike[str], size: int) -> np.ndarray:
    """The shared models' input: :func:`load_image`, ``pixel / 127.5 - 1``, NCHW float32
    ``(1, 3, size, size)``."""
    arr = load_image(image, size).astype(np.float32) / 127.5 - 1.0
    return arr.transpose(2, 0, 1)[None].copy()


__all__ = ["load_image", "preprocess"]
