"""Images to model inputs.

Two kinds of model take images: those with preprocessing inside (one ``uint8`` input laid out
NHWC with 3 channels: the server only decodes and resizes), and float NCHW models whose config
gives per-channel ``mean``/``std``. Either way the photo is resized so its shorter side fits
the model (Pillow bilinear) and center-cropped, the usual ImageNet evaluation crop.

Example:
    >>> array = image_input(open("cat.bmp", "rb").read(), spec, None)  # doctest: +SKIP
    >>> array.shape, array.dtype                                       # doctest: +SKIP
    ((1, 224, 224, 3), dtype('uint8'))
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from .model import TensorSpec
from .protocol import ProtocolError
from .repository import ImagePreprocess


def decode(data: bytes) -> Image.Image:
    """An RGB image from encoded bytes (any format Pillow reads)."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ProtocolError(400, f"the upload is not an image Pillow can read: {exc}") from None
    return image.convert("RGB")


def center_crop(image: Image.Image, height: int, width: int) -> np.ndarray:
    """Resize the shorter side to fit ``height x width`` (bilinear), crop the center;
    ``[height, width, 3]`` uint8."""
    scale = max(height / image.height, width / image.width)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    resized = image.resize(size, Image.BILINEAR)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return np.asarray(resized.crop((left, top, left + width, top + height)), dtype=np.uint8)


def image_layout(inputs: Sequence[TensorSpec], preprocess: ImagePreprocess | None
                 ) -> tuple[str, int, int]:
    """How the model takes an image: ``("NHWC", h, w)`` for uint8 NHWC models,
    ``("NCHW", h, w)`` for float NCHW models with ``preprocess``; else a 400 naming why."""
    if len(inputs) != 1:
        raise ProtocolError(400, f"the image endpoint needs a model with one input, this one "
                                 f"has {[t.name for t in inputs]}")
    spec = inputs[0]
    shape = spec.shape
    if len(shape) == 4 and spec.dtype == np.uint8 and shape[3] == 3:
        return "NHWC", shape[1], shape[2]
    if len(shape) == 4 and spec.dtype.kind == "f" and shape[1] == 3 and preprocess is not None:
        return "NCHW", shape[2], shape[3]
    raise ProtocolError(400, f"input {spec.name!r} ({spec.dtype}, shape {list(shape)}) does not "
                             "take images: the image endpoint needs a uint8 [N, H, W, 3] input "
                             "(preprocessing inside the model) or a float [N, 3, H, W] input "
                             "with 'image' mean/std in the model's config.json")


def image_input(data: bytes, inputs: Sequence[TensorSpec],
                preprocess: ImagePreprocess | None) -> np.ndarray:
    """The one-image batch to feed the model's input for an encoded image."""
    layout, height, width = image_layout(inputs, preprocess)
    pixels = center_crop(decode(data), height, width)
    if layout == "NHWC":
        return pixels[None]
    assert preprocess is not None
    mean = np.asarray(preprocess.mean, np.float32)
    std = np.asarray(preprocess.std, np.float32)
    scaled = (pixels.astype(np.float32) - mean) / std
    return np.ascontiguousarray(scaled.transpose(2, 0, 1)[None], dtype=inputs[0].dtype)


__all__ = ["center_crop", "decode", "image_input", "image_layout"]
