"""``Objects365``: images and an Objects365 annotation file (COCO's JSON format)."""

from __future__ import annotations

from ....assets import OBJECTS365_CLASSES
from ....assets import class_names as read_class_names
from .coco import COCO


class Objects365(COCO):
    """The Objects365 detection dataset: COCO's reader with the fields Objects365 has,
    ``image``, ``boxes``, ``boxes_category`` and ``info``, and its 365 class names.

    Example:
        >>> Objects365.class_names[:3]
        ('person', 'sneakers', 'chair')
    """

    supported_order = ("image", "boxes", "boxes_category", "info")
    #: the 365 class names; ``class_names[i - 1]`` is contiguous category ``i``
    class_names = read_class_names(OBJECTS365_CLASSES)
