"""``CIFAR10``/``CIFAR100`` from the extracted python-version batches the user has."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ....serialization.restricted_unpickler import RestrictedUnpickler
from ..meta_dataset import ArraySamples
from .meta_vision import VisionDataset, no_download
from .mnist import _default_root


def _load_batch(path: str) -> dict[bytes, Any]:
    """One CIFAR batch file: a pickled dict of arrays and lists (read as data only)."""
    with open(path, "rb") as f:
        unpickler = RestrictedUnpickler(f, source=path)
        unpickler.encoding = "bytes"  # the batches were pickled by Python 2
        return unpickler.load()


class CIFAR10(ArraySamples, VisionDataset):
    """CIFAR-10: samples are ``(uint8 BGR image (32, 32, 3), int32 label)``.

    ``root`` (default ``~/.cache/megengine/CIFAR10``) must hold the extracted
    ``cifar-10-batches-py`` folder; mge does not download it (``download=True`` with the
    folder missing raises ``RuntimeError`` naming the expected path).

    Example:
        >>> CIFAR10("/nonexistent", download=False)
        Traceback (most recent call last):
        ...
        ValueError: dir /nonexistent does not exist
    """

    raw_file_name = "cifar-10-python.tar.gz"
    raw_file_dir = "cifar-10-batches-py"
    train_batch = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_batch = ["test_batch"]
    meta_info = {"name": "batches.meta"}
    label_keys = (b"labels",)

    def __init__(
        self, root: str | None = None, train: bool = True, download: bool = True,
        timeout: int = 500,
    ) -> None:
        super().__init__(root or _default_root(type(self).__name__),
                         order=("image", "image_category"))
        self.timeout = timeout
        if not os.path.isdir(self.root) and not download:
            raise ValueError(f"dir {self.root} does not exist")
        self.target_file = os.path.join(self.root, self.raw_file_dir)
        if not os.path.isdir(self.target_file):
            if download:
                raise no_download(
                    type(self).__name__,
                    f"{self.target_file} (extract {self.raw_file_name} into {self.root})",
                )
            raise ValueError(f"dir does not contain target file {self.target_file}")
        self.arrays = self.bytes2array(self.train_batch if train else self.test_batch)

    def bytes2array(self, filenames: list[str]) -> tuple[Any, ...]:
        """Images (HWC, BGR) and label arrays of the batch files ``filenames``."""
        images, labels = [], {key: [] for key in self.label_keys}
        for name in filenames:
            batch = _load_batch(os.path.join(self.target_file, name))
            data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            images.append(data.transpose(0, 2, 3, 1)[..., ::-1])
            for key in self.label_keys:
                labels[key].extend(batch[key])
        image_array = np.ascontiguousarray(np.concatenate(images))
        return (image_array, *(np.array(labels[k], dtype=np.int32) for k in self.label_keys))

    @property
    def meta(self) -> dict[bytes, Any]:
        return _load_batch(os.path.join(self.target_file, self.meta_info["name"]))


class CIFAR100(CIFAR10):
    """CIFAR-100: samples are ``(image, fine label, coarse label)``.

    Example:
        >>> CIFAR100.raw_file_dir
        'cifar-100-python'
    """

    raw_file_name = "cifar-100-python.tar.gz"
    raw_file_dir = "cifar-100-python"
    train_batch = ["train"]
    test_batch = ["test"]
    meta_info = {"name": "meta"}
    label_keys = (b"fine_labels", b"coarse_labels")
