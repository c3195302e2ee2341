"""The demo's deployable model: a classifier with its preprocessing inside.

:class:`ImageClassifier` takes what an application has after decoding and cropping a
photo: uint8 pixels ``[N, H, W, 3]`` in BGR order (what ``cv2.imread`` gives, and what
``load_and_run --input data:photo.png`` feeds), and does the rest in the graph: BGR to
RGB, NHWC to NCHW, ``pixel / 127.5 - 1``, the network, softmax. It returns
``(probs, logits)``; the wrapped network's last output is taken as its logits.

Example:
    >>> net = ImageClassifier(mge.convert.from_onnx(MOBILENET_V1, trace=False))  # doctest: +SKIP
    >>> probs, logits = net(mge.tensor(bgr_crop[None]))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .. import module as M
from ..tensor import Tensor


class ImageClassifier(M.Module):
    """uint8 BGR NHWC pixels -> ``(probs, logits)`` of ``network`` (see the module docstring).

    Args:
        network: a classifier taking float32 RGB NCHW input normalized as
            ``pixel / 127.5 - 1``; its output (or its last output) is its logits.
    """

    def __init__(self, network: M.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        x = image[:, :, :, ::-1].astype("float32")        # BGR -> RGB, uint8 -> float32
        x = F.transpose(x, (0, 3, 1, 2)) / 127.5 - 1.0     # NHWC -> NCHW, into [-1, 1]
        out: Any = self.network(x)
        logits = out[-1] if isinstance(out, (tuple, list)) else out
        return F.softmax(logits, axis=1), logits


__all__ = ["ImageClassifier"]
