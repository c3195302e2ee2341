"""``COCO``: images and a COCO-format JSON annotation file the user has."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ....assets import COCO_CLASSES
from ....assets import class_names as read_class_names
from .meta_vision import VisionDataset, read_image

MIN_KEYPOINTS_PER_IMAGE = 10


def _visible_keypoints(annotations: list[dict]) -> int:
    return sum(sum(1 for v in a["keypoints"][2::3] if v > 0) for a in annotations)


def has_valid_annotation(annotations: list[dict], order: Sequence[str]) -> bool:
    """Whether an image's annotations serve ``order`` (boxes; enough visible keypoints)."""
    if not annotations:
        return False
    if ("boxes" in order or "boxes_category" in order) and "bbox" not in annotations[0]:
        return False
    if "keypoints" in order:
        if "keypoints" not in annotations[0]:
            return False
        if _visible_keypoints(annotations) < MIN_KEYPOINTS_PER_IMAGE:
            return False
    return True


class COCO(VisionDataset):
    """COCO detection/keypoint annotations; sample fields named by ``order`` from
    ``supported_order``: images (BGR), ``boxes`` (float32 ``x0, y0, x1, y1``),
    ``boxes_category`` (contiguous ids from 1), ``keypoints`` (``(N, 17, 3)``),
    ``polygons`` and ``info`` (``[height, width, file_name]``).

    Example:
        >>> import json, tempfile
        >>> ann = {"images": [{"id": 1, "file_name": "a.jpg", "height": 2, "width": 3}],
        ...        "annotations": [{"id": 1, "image_id": 1, "bbox": [0, 0, 1, 1],
        ...                         "category_id": 5, "iscrowd": 0}],
        ...        "categories": [{"id": 5, "name": "x"}]}
        >>> path = tempfile.mktemp(suffix=".json")
        >>> json.dump(ann, open(path, "w"))
        >>> COCO("/images", path, order=("boxes", "boxes_category", "info"))[0]
        (array([[0., 0., 1., 1.]], dtype=float32), array([1], dtype=int32), [2, 3, 'a.jpg'])
    """

    supported_order = ("image", "boxes", "boxes_category", "keypoints", "polygons", "info")
    #: the 80 class names; ``class_names[i - 1]`` is contiguous category ``i``
    class_names = read_class_names(COCO_CLASSES)
    keypoint_names = (
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    )

    def __init__(
        self,
        root: str,
        ann_file: str,
        remove_images_without_annotations: bool = False,
        *,
        order: Sequence[str] | None = None,
    ) -> None:
        super().__init__(root, order=order, supported_order=self.supported_order)
        with open(ann_file) as f:
            dataset = json.load(f)
        for key in ("images", "annotations", "categories"):
            if key not in dataset:
                raise ValueError(f"COCO: annotation file {ann_file} has no '{key}'")
        self.imgs = {img["id"]: img for img in dataset["images"]}
        self.img_to_anns: dict[Any, list[dict]] = defaultdict(list)
        for ann in dataset["annotations"]:
            self.img_to_anns[ann["image_id"]].append(ann)
        self.cats = {cat["id"]: cat for cat in dataset["categories"]}
        self.ids = sorted(self.imgs)
        if remove_images_without_annotations:
            kept = []
            for img_id in self.ids:
                anns = [a for a in self.img_to_anns[img_id] if a.get("iscrowd", 0) == 0]
                anns = [a for a in anns if a["bbox"][2] > 0 and a["bbox"][3] > 0]
                if has_valid_annotation(anns, self.order):
                    kept.append(img_id)
                    self.img_to_anns[img_id] = anns
                else:
                    del self.imgs[img_id]
                    self.img_to_anns.pop(img_id, None)
            self.ids = kept
        self.json_category_id_to_contiguous_id = {
            cat_id: i + 1 for i, cat_id in enumerate(sorted(self.cats))
        }
        self.contiguous_category_id_to_json_id = {
            v: k for k, v in self.json_category_id_to_contiguous_id.items()
        }

    def _field(self, key: str, img_id: Any, anns: list[dict]) -> Any:
        if key == "image":
            return read_image(os.path.join(self.root, self.imgs[img_id]["file_name"]))
        if key == "boxes":
            boxes = np.array([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
            boxes[:, 2:] += boxes[:, :2]
            return boxes
        if key == "boxes_category":
            ids = [self.json_category_id_to_contiguous_id[a["category_id"]] for a in anns]
            return np.array(ids, dtype=np.int32)
        if key == "keypoints":
            points = np.array([a["keypoints"] for a in anns], dtype=np.float32)
            return points.reshape(-1, len(self.keypoint_names), 3)
        if key == "polygons":
            return [[np.array(p, dtype=np.float32).reshape(-1, 2) for p in a["segmentation"]]
                    for a in anns]
        info = self.imgs[img_id]
        return [info["height"], info["width"], info["file_name"]]

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        img_id = self.ids[index]
        anns = self.img_to_anns[img_id]
        return tuple(self._field(key, img_id, anns) for key in self.order)

    def __len__(self) -> int:
        return len(self.ids)

    def get_img_info(self, index: int) -> dict[str, Any]:
        """The annotation file's record of image ``index``."""
        return self.imgs[self.ids[index]]
