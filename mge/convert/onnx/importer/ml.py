"""ONNX converters for the ``ai.onnx.ml`` domain ops ``Binarizer`` and
``ArrayFeatureExtractor`` (see :mod:`.node`).

Example:
    >>> import mge
    >>> Binarize(0.5)(None, mge.tensor([0.2, 0.7])).numpy()
    array([0., 1.], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, converter


@dataclasses.dataclass(frozen=True)
class Binarize(OnnxOp):
    """1 where ``x > threshold``, else 0, in the type of ``x``."""

    threshold: float

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return F.astype(F.greater(x, F.full_like(x, self.threshold)), x.dtype)


@converter("Binarizer", domain="ai.onnx.ml")
def _binarizer(node: Node, ctx: Any) -> Converted:
    return Binarize(float(node.attr("threshold", 0.0))), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class FeatureExtract(OnnxOp):
    """The features at ``index`` along the last axis (a 1-d input gives one row)."""

    def __call__(self, mod: Any, x: Tensor, index: Tensor) -> Tensor:
        flat = F.reshape(F.astype(index, "int32"), (-1,))
        picked = x[(slice(None),) * (x.ndim - 1) + (flat,)]
        return F.reshape(picked, (1, -1)) if x.ndim == 1 else picked


@converter("ArrayFeatureExtractor", domain="ai.onnx.ml")
def _array_feature_extractor(node: Node, ctx: Any) -> Converted:
    return FeatureExtract(), node.inputs[:2], node.outputs[:1]


__all__: list[str] = []
