"""ONNX converter for ``NonMaxSuppression``: the ``[selected, 3]`` (batch, class, box)
indices of the boxes kept per batch and class, as ONNX's reference selects them.

The output's length depends on the box values, so (as for ``NonZero`` and ``Unique``, see
:mod:`.selection`) the node is computed when it is converted: at import time for constant
operands, on every run through the importer's deferred nodes for run-time ones (eager import
only; a traced ``.mge`` refuses the node). MegEngine's ``NMSKeep`` is not used: it breaks
score ties towards the later box and compares ``inter > union * threshold``, while ONNX
takes the earlier box and compares ``inter / union > threshold`` (in float32).

Example:
    >>> boxes = np.array([[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 2, 1, 3]]], "float32")
    >>> scores = np.array([[[0.9, 0.8, 0.7]]], "float32")
    >>> select(boxes, scores, 10, 0.5, None, False).tolist()
    [[0, 0, 0], [0, 0, 2]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .node import Converted, Node, converter

F32 = np.float32


def _corners(boxes: np.ndarray, center: bool) -> tuple[np.ndarray, ...]:
    """``(x_min, x_max, y_min, y_max)`` float32 of ``[n, 4]`` boxes, ``[y1, x1, y2, x2]``
    in any corner order, or ``[x_center, y_center, width, height]``."""
    boxes = boxes.astype(F32)
    if center:
        half_w, half_h = boxes[:, 2] / F32(2), boxes[:, 3] / F32(2)
        return (boxes[:, 0] - half_w, boxes[:, 0] + half_w,
                boxes[:, 1] - half_h, boxes[:, 1] + half_h)
    return (np.minimum(boxes[:, 1], boxes[:, 3]), np.maximum(boxes[:, 1], boxes[:, 3]),
            np.minimum(boxes[:, 0], boxes[:, 2]), np.maximum(boxes[:, 0], boxes[:, 2]))


def _suppressed(corners: tuple[np.ndarray, ...], box: int, kept: list[int],
                threshold: np.float32) -> bool:
    """Whether a kept box overlaps ``box`` by an IoU above ``threshold``."""
    x0, x1, y0, y1 = (c[kept] for c in corners)
    bx0, bx1, by0, by1 = (c[box] for c in corners)
    width = np.minimum(bx1, x1) - np.maximum(bx0, x0)
    height = np.minimum(by1, y1) - np.maximum(by0, y0)
    inter = width * height
    area, areas = (bx1 - bx0) * (by1 - by0), (x1 - x0) * (y1 - y0)
    union = area + areas - inter
    valid = (width > 0) & (height > 0) & (inter > 0) & (area > 0) & (areas > 0) & (union > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return bool(np.any(valid & (iou > threshold)))


def select(boxes: np.ndarray, scores: np.ndarray, max_per_class: int, iou_threshold: float,
           score_threshold: float | None, center: bool) -> np.ndarray:
    """ONNX NonMaxSuppression on ``[B, N, 4]`` boxes and ``[B, C, N]`` scores: int64
    ``[selected, 3]``, per batch and class the kept boxes by descending score (ties: the
    lower index first)."""
    if boxes.ndim != 3 or boxes.shape[2] != 4 or scores.ndim != 3 or \
            scores.shape[0] != boxes.shape[0] or scores.shape[2] != boxes.shape[1]:
        raise ValueError(f"NonMaxSuppression: boxes {boxes.shape} must be [batch, boxes, 4] "
                         f"and scores {scores.shape} [batch, classes, boxes]")
    threshold = F32(iou_threshold)
    picked = []
    for b in range(boxes.shape[0]):
        corners = _corners(boxes[b], center)
        for c in range(scores.shape[1]):
            row = scores[b, c].astype(F32)
            order = np.lexsort((np.arange(row.size), -row))  # score down, then index up
            if score_threshold is not None:
                order = order[row[order] > F32(score_threshold)]
            kept: list[int] = []
            for box in order.tolist():
                if len(kept) >= max_per_class:
                    break
                if not kept or not _suppressed(corners, box, kept, threshold):
                    kept.append(box)
            picked.extend((b, c, box) for box in kept)
    return np.array(picked, dtype=np.int64).reshape(-1, 3)


def _scalar(node: Node, ctx: Any, index: int, what: str) -> Any:
    name = node.input(index)
    return np.asarray(ctx.const(name, f"NonMaxSuppression {what}")).reshape(-1)[0] \
        if name else None


@converter("NonMaxSuppression")
def _non_max_suppression(node: Node, ctx: Any) -> Converted:
    boxes = np.asarray(ctx.const(node.input(0), "NonMaxSuppression boxes"))
    scores = np.asarray(ctx.const(node.input(1), "NonMaxSuppression scores"))
    limit = _scalar(node, ctx, 2, "max_output_boxes_per_class")
    iou = _scalar(node, ctx, 3, "iou_threshold")
    score = _scalar(node, ctx, 4, "score_threshold")
    center = bool(node.attr("center_point_box", 0))
    ctx.consts[node.outputs[0]] = select(
        boxes, scores, max(int(limit), 0) if limit is not None else 0,
        0.0 if iou is None else float(iou), None if score is None else float(score), center)
    return None


__all__: list[str] = []
