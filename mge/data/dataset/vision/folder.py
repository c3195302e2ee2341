"""``ImageFolder``: one sub-folder of images per class."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from .meta_vision import VisionDataset, is_img, read_image


class ImageFolder(VisionDataset):
    """Images in ``root/<class>/**``; samples are ``(BGR image, label)``.

    Labels are the class folders' positions in sorted order (``np.int32``), or the folder
    names with ``class_name=True``. Files are listed once, sorted.

    Args:
        root: the folder holding one sub-folder per class.
        check_valid_func: which files to take (default: image extensions).
        class_name: label samples with the folder name instead of its index.

    Example:
        >>> import os, tempfile
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(os.path.join(root, "cat"))
        >>> len(ImageFolder(root)), list(ImageFolder(root).class_dict)
        (0, ['cat'])
    """

    def __init__(
        self,
        root: str,
        check_valid_func: Callable[[str], bool] | None = None,
        class_name: bool = False,
    ) -> None:
        super().__init__(root, order=("image", "image_category"))
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"ImageFolder: root folder not found: {self.root}")
        self.check_valid = check_valid_func if check_valid_func is not None else is_img
        self.class_name = class_name
        self.class_dict = self.collect_class()
        self.samples = self.collect_samples()

    def collect_class(self) -> dict[str, np.int32]:
        """``{class folder name: label}`` in sorted order."""
        classes = sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir())
        return {name: np.int32(i) for i, name in enumerate(classes)}

    def collect_samples(self) -> list[tuple[str, object]]:
        """``(path, label)`` of every valid file, classes and files in sorted order."""
        samples: list[tuple[str, object]] = []
        for name in sorted(self.class_dict):
            for folder, _, files in sorted(os.walk(os.path.join(self.root, name),
                                                   followlinks=True)):
                for file in sorted(files):
                    path = os.path.join(folder, file)
                    if self.check_valid(path):
                        samples.append((path, name if self.class_name else self.class_dict[name]))
        return samples

    def __getitem__(self, index: int) -> tuple[np.ndarray, object]:
        path, label = self.samples[index]
        return read_image(path), label

    def __len__(self) -> int:
        return len(self.samples)
