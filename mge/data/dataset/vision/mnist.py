"""``MNIST`` from the four idx files the user has (gzip-compressed, as distributed)."""

from __future__ import annotations

import gzip
import os
import struct
from typing import Any

import numpy as np

from ..meta_dataset import ArraySamples
from .meta_vision import VisionDataset, no_download

_IMAGE_MAGIC = 2051
_LABEL_MAGIC = 2049


def _default_root(name: str) -> str:
    cache = os.getenv("XDG_CACHE_HOME", "~/.cache")
    return os.path.expanduser(os.path.join(cache, "megengine", name))


def parse_idx3(path: str) -> tuple[dict[str, int], np.ndarray]:
    """Images of an idx3 file: ``(meta, uint8 array (N, H, W, 1))``."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count, height, width = struct.unpack_from(">iiii", data, 0)
    if magic != _IMAGE_MAGIC:
        raise ValueError(f"{path}: not an idx3 image file (magic {magic}, want {_IMAGE_MAGIC})")
    pixels = np.frombuffer(data, dtype=np.uint8, offset=16)
    if pixels.size != count * height * width:
        raise ValueError(f"{path}: truncated, {pixels.size} bytes for {count} images")
    meta = {"magic": magic, "imgs": count, "height": height, "width": width}
    return meta, pixels.reshape(count, height, width, 1)


def parse_idx1(path: str) -> tuple[dict[str, int], np.ndarray]:
    """Labels of an idx1 file: ``(meta, int array (N,))``."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack_from(">ii", data, 0)
    if magic != _LABEL_MAGIC:
        raise ValueError(f"{path}: not an idx1 label file (magic {magic}, want {_LABEL_MAGIC})")
    labels = np.frombuffer(data, dtype=np.uint8, offset=8)
    if labels.size != count:
        raise ValueError(f"{path}: truncated, {labels.size} labels for {count}")
    return {"magic": magic, "imgs": count}, labels.astype(int)


class MNIST(ArraySamples, VisionDataset):
    """MNIST digits: samples are ``(uint8 image (28, 28, 1), int32 label)``.

    ``root`` (default ``~/.cache/megengine/MNIST``) must hold the four files of
    ``raw_file_name``; mge does not download them: with the files missing, ``download=True``
    raises ``RuntimeError`` naming where to put them, ``download=False`` ``ValueError``.

    Example:
        >>> MNIST("/nonexistent", download=False)
        Traceback (most recent call last):
        ...
        ValueError: dir /nonexistent does not exist
    """

    raw_file_name = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]

    def __init__(self, root: str | None = None, train: bool = True, download: bool = True):
        super().__init__(root or _default_root(type(self).__name__),
                         order=("image", "image_category"))
        if not os.path.isdir(self.root) and not download:
            raise ValueError(f"dir {self.root} does not exist")
        if not self._check_raw_files():
            missing = ", ".join(self.raw_file_name)
            if download:
                raise no_download("MNIST", f"{self.root} (files {missing})")
            raise ValueError(
                f"root {self.root} does not contain the raw files ({missing}); mge does not "
                "download them"
            )
        self.process(train)

    def _check_raw_files(self) -> bool:
        return all(os.path.exists(os.path.join(self.root, name)) for name in self.raw_file_name)

    def process(self, train: bool) -> None:
        """Parse the training or test files into ``self.arrays``."""
        images_file, labels_file = self.raw_file_name[:2] if train else self.raw_file_name[2:]
        image_meta, images = parse_idx3(os.path.join(self.root, images_file))
        label_meta, labels = parse_idx1(os.path.join(self.root, labels_file))
        if len(images) != len(labels):
            raise ValueError(f"MNIST: {len(images)} images but {len(labels)} labels in {self.root}")
        self._meta_data = {"images": image_meta, "labels": label_meta}
        self.arrays = (images, labels.astype(np.int32))

    @property
    def meta(self) -> dict[str, Any]:
        return self._meta_data
