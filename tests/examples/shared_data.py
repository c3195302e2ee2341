"""The real models, images and reference outputs in ../shared (skip when absent)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

#: ``$MGE_SHARED`` when set (a worktree away from the repository's own ../shared)
SHARED = Path(os.environ.get("MGE_SHARED") or Path(__file__).resolve().parents[3] / "shared")
MODELS = SHARED / "models"
IMAGES = SHARED / "images"
REFERENCE = MODELS / "reference"

requires_shared = pytest.mark.skipif(
    not (MODELS / "reference" / "reference.json").is_file(),
    reason="../shared/models (real pretrained models and reference outputs) not present",
)

#: model file stem -> input size
SIZES = {"mobilenet_v2_1.0_224_dq": 224, "mobilenet_v3_small_1.0_224_dq": 224,
         "mobilenet_v1_0.25_128": 128}
CATS = range(282, 287)


def reference_top5(stem: str, image: str) -> list[int]:
    """Reference top-5 class indices (onnxruntime) for an image name without extension."""
    data = json.loads((REFERENCE / "reference.json").read_text())
    results = data["models"][f"{stem}.onnx"]["results"][image]
    return [entry["index"] for entry in results["top5"]]


def labels() -> list[str]:
    return (MODELS / "imagenet_labels_1001.txt").read_text().splitlines()
