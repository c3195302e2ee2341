"""``PascalVOC``: a VOC-layout folder (JPEGImages, Annotations, ImageSets, ...)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import numpy as np

from .meta_vision import VisionDataset, read_image


def _split_names(path: str) -> list[str]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"PascalVOC: image set file not found: {path}")
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


class PascalVOC(VisionDataset):
    """Pascal VOC detection (``boxes``, ``boxes_category``) or segmentation (``mask``)
    samples, with ``image`` (BGR) and ``info`` (``[height, width, file_name]``).

    Example:
        >>> PascalVOC("/nonexistent", "train", order=("image", "boxes"))
        Traceback (most recent call last):
        ...
        RuntimeError: Dataset not found or corrupted: /nonexistent is not a folder
    """

    supported_order = ("image", "boxes", "boxes_category", "mask", "info")
    class_names = (
        "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
        "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep",
        "sofa", "train", "tvmonitor",
    )

    def __init__(self, root: str, image_set: str, *, order: Sequence[str] | None = None):
        order = ("image",) if order is None else order
        detection = "boxes" in order or "boxes_category" in order
        if detection and "mask" in order:
            raise ValueError("PascalVOC only supports boxes & boxes_category or mask, not both.")
        super().__init__(root, order=order, supported_order=self.supported_order)
        if not os.path.isdir(self.root):
            raise RuntimeError(f"Dataset not found or corrupted: {self.root} is not a folder")
        self.image_set = image_set
        split = "Main" if detection else "Segmentation"
        if not detection and "mask" not in order:
            raise NotImplementedError("PascalVOC needs boxes/boxes_category or mask in order")
        self.file_names = _split_names(
            os.path.join(self.root, "ImageSets", split, image_set.rstrip("\n") + ".txt")
        )
        self.images = [os.path.join(self.root, "JPEGImages", n + ".jpg") for n in self.file_names]
        if detection:
            self.annotations = [
                os.path.join(self.root, "Annotations", n + ".xml") for n in self.file_names
            ]
        else:
            mask_dir = "SegmentationClass_aug" if "aug" in image_set else "SegmentationClass"
            self.masks = [os.path.join(self.root, mask_dir, n + ".png") for n in self.file_names]
        self.img_infos: dict[int, dict[str, Any]] = {}

    def _objects(self, index: int) -> list[tuple[str, tuple[float, ...]]]:
        root = ET.parse(self.annotations[index]).getroot()
        objects = []
        for obj in root.iter("object"):
            box = obj.find("bndbox")
            coords = tuple(float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            objects.append((obj.findtext("name").strip(), coords))
        return objects

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        target: list[Any] = []
        image = None
        for key in self.order:
            if key == "image":
                image = read_image(self.images[index])
                target.append(image)
            elif key == "boxes":
                boxes = [coords for _, coords in self._objects(index)]
                target.append(np.array(boxes, dtype=np.float32).reshape(-1, 4))
            elif key == "boxes_category":
                names = [name for name, _ in self._objects(index)]
                ids = [self.class_names.index(name) + 1 for name in names]
                target.append(np.array(ids, dtype=np.int32))
            elif key == "mask":
                if "aug" in self.image_set:
                    mask = read_image(self.masks[index], "IMREAD_GRAYSCALE")
                else:
                    mask = self._trans_mask(read_image(self.masks[index]))
                target.append(mask[:, :, np.newaxis])
            else:
                info = self.get_img_info(index, image)
                target.append([info["height"], info["width"], info["file_name"]])
        return tuple(target)

    def __len__(self) -> int:
        return len(self.images)

    def get_img_info(self, index: int, image: np.ndarray | None = None) -> dict[str, Any]:
        """Height, width and file name of image ``index`` (read once, then cached)."""
        if index not in self.img_infos:
            image = read_image(self.images[index]) if image is None else image
            self.img_infos[index] = {"height": image.shape[0], "width": image.shape[1],
                                     "file_name": self.file_names[index]}
        return self.img_infos[index]

    def _trans_mask(self, mask: np.ndarray) -> np.ndarray:
        """A VOC color-palette mask (BGR) to class indices; unknown colors are 255."""
        label = np.full(mask.shape[:2], 255, dtype=np.uint8)
        for class_id, bgr in enumerate(_palette_bgr(len(self.class_names) + 1)):
            label[np.all(mask == bgr, axis=-1)] = class_id
        return label


def _palette_bgr(count: int) -> list[tuple[int, int, int]]:
    """The VOC color map (bit-interleaved class ids), as BGR triples."""
    colors = []
    for class_id in range(count):
        r = g = b = 0
        c = class_id
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors.append((b, g, r))
    return colors
