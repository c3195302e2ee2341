"""``mge.assets``: the data files shipped inside the package (provenance: ``NOTICE.md``).

A real ImageNet classifier with its published float weights (MobileNetV1 0.25, 128x128,
as ONNX), its 1001 class names and one photo of a cat, so that ``python -m mge.demo``
and the README's first example give a real, checkable answer without downloads.

Example:
    >>> from mge.assets import CAT_PHOTO, MOBILENET_V1, imagenet_labels
    >>> imagenet_labels()[283]
    'tiger cat'
    >>> net = mge.convert.from_onnx(MOBILENET_V1)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
#: MobileNetV1 0.25/128 (float32 NCHW ``input`` [1,3,128,128] in [-1, 1]; outputs
#: ``probs`` and ``logits`` [1,1001]); input contract in ``NOTICE.md``.
MOBILENET_V1 = ASSETS_DIR / "mobilenet_v1_0.25_128.onnx"
#: 1001 class names, one a line: index 0 is ``background``, index ``i`` ImageNet class ``i-1``.
IMAGENET_LABELS = ASSETS_DIR / "imagenet_labels_1001.txt"
#: A 512x341 RGB photo of a cat (lossless PNG of google-coral/test_data's ``cat.bmp``).
CAT_PHOTO = ASSETS_DIR / "cat.png"
#: The detection datasets' class names, one a line, in contiguous-id order (id ``i + 1``).
COCO_CLASSES = ASSETS_DIR / "coco_classes.txt"
OBJECTS365_CLASSES = ASSETS_DIR / "objects365_classes.txt"


def class_names(path: Path) -> tuple[str, ...]:
    """The lines of a class-name asset (:data:`COCO_CLASSES`, :data:`OBJECTS365_CLASSES`)."""
    return tuple(path.read_text(encoding="utf-8").splitlines())


def imagenet_labels() -> list[str]:
    """The 1001 class names of :data:`IMAGENET_LABELS` (index 0: ``background``)."""
    return IMAGENET_LABELS.read_text(encoding="utf-8").splitlines()


__all__ = ["ASSETS_DIR", "CAT_PHOTO", "COCO_CLASSES", "IMAGENET_LABELS", "MOBILENET_V1",
           "OBJECTS365_CLASSES", "class_names", "imagenet_labels"]
