"""The base class of the vision datasets and the helpers they share."""

from __future__ import annotations

import collections.abc
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._opencv import require_cv2
from ..meta_dataset import Dataset

IMG_EXT = (".jpg", ".png", ".jpeg", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def is_img(filename: str) -> bool:
    """Whether ``filename`` has an image extension OpenCV reads."""
    return filename.lower().endswith(IMG_EXT)


def read_image(path: str, flags: str = "IMREAD_COLOR") -> np.ndarray:
    """Decode an image file with OpenCV (BGR, ``(H, W, C)``); a file OpenCV cannot read
    raises ``FileNotFoundError``/``ValueError`` naming it (``cv2.imread`` itself returns
    ``None``)."""
    cv2 = require_cv2("reading images")
    image = cv2.imread(path, getattr(cv2, flags))
    if image is None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"image file not found: {path}")
        raise ValueError(f"OpenCV cannot decode the image file {path}")
    return image


def no_download(dataset: str, expected: str) -> RuntimeError:
    """The error for ``download=True``: mge never downloads; the user provides the files."""
    return RuntimeError(
        f"{dataset}: downloading is not supported (mge reads only local files). Download "
        f"the dataset yourself and place it at {expected}, then pass download=False."
    )


class VisionDataset(Dataset):
    """A dataset of images under ``root`` whose samples are tuples named by ``order``.

    Example:
        >>> class Empty(VisionDataset):
        ...     def __getitem__(self, index):
        ...         raise IndexError(index)
        ...     def __len__(self):
        ...         return 0
        >>> Empty("/data", order=("image", "boxes")).order
        ('image', 'boxes')
    """

    def __init__(
        self,
        root: Any,
        *,
        order: Sequence[str] | None = None,
        supported_order: Sequence[str] | None = None,
    ) -> None:
        if isinstance(root, str):
            root = os.path.expanduser(root)
        self.root = root
        if order is None:
            order = ("image",)
        if not isinstance(order, collections.abc.Sequence):
            raise ValueError(f"order should be a sequence, but got order={order}")
        if supported_order is not None:
            for key in order:
                if key not in supported_order:
                    raise NotImplementedError(f"{key} is unsupported data type")
        self.order = order

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError
