"""mge.demo.model.ImageClassifier: preprocessing inside the model."""

from __future__ import annotations

import numpy as np

import mge
import mge.functional as F
import mge.module as M
from mge.demo.model import ImageClassifier


class TwoOutputs(M.Module):
    """A tiny classifier returning (something, logits), as the shared ONNX models do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 4, 3, stride=2)

    def forward(self, x: mge.Tensor) -> tuple[mge.Tensor, mge.Tensor]:
        logits = F.flatten(F.adaptive_avg_pool2d(self.conv(x), 1), 1)
        return x, logits


def test_uint8_bgr_in_equals_the_normalized_rgb_float_input() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2, 9, 9, 3), dtype=np.uint8)
    net = TwoOutputs()
    net.eval()
    probs, logits = ImageClassifier(net)(mge.tensor(np.ascontiguousarray(rgb[..., ::-1])))
    float_input = (rgb.astype(np.float32) / 127.5 - 1).transpose(0, 3, 1, 2)
    expect = net(mge.tensor(float_input))[1].numpy()
    np.testing.assert_allclose(logits.numpy(), expect, atol=1e-5)
    exp = np.exp(expect - expect.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs.numpy(), exp / exp.sum(axis=1, keepdims=True), atol=1e-6)


def test_a_single_output_is_the_logits() -> None:
    net = M.Sequential(M.Conv2d(3, 2, 1), M.AdaptiveAvgPool2d(1))
    net.eval()
    image = mge.tensor(np.full((1, 4, 4, 3), 255, np.uint8))
    probs, logits = ImageClassifier(net)(image)
    expect = net(mge.tensor(np.ones((1, 3, 4, 4), "f4"))).numpy()
    np.testing.assert_allclose(logits.numpy(), expect, atol=1e-6)
    np.testing.assert_allclose(probs.numpy().sum(), 1, atol=1e-6)
