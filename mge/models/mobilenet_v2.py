"""MobileNet V2 (width 1.0 by default) in MegEngine's official layout, with ReLU6.

The layout follows MegEngine/Models' ``mobilenet_v2`` (``features``: a Sequential of a
stem, ``InvertedResidual`` blocks whose ``conv`` Sequential holds conv+BN pairs
named ``conv``/``bn``, and a 1x1 head; ``classifier``: ``Dropout`` + ``Linear``), with
the ReLU6 activations of the MobileNetV2 paper. Only ``mge.functional`` and
``mge.module`` are used (the file also runs under MegEngine).

Example:
    >>> import numpy as np, mge
    >>> from mge.models.mobilenet_v2 import mobilenet_v2
    >>> net = mobilenet_v2(num_classes=10, width_mult=0.25, input_size=64)
    >>> net.eval()
    >>> net(mge.tensor(np.zeros((1, 3, 64, 64), "float32"))).shape
    (1, 10)
"""

from __future__ import annotations

from typing import Any

import mge.functional as F
import mge.module as M

# t (expansion), c (channels), n (repeats), s (stride of the first repeat)
INVERTED_RESIDUAL_SETTING = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """Round ``v`` to a multiple of ``divisor`` without going more than 10% below it."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBnReLU6(M.Module):
    """``relu6(bn(conv(x)))`` with submodules ``conv`` and ``bn`` (like ``M.ConvBnRelu2d``)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int,
        stride: int = 1, padding: int = 0, groups: int = 1,
    ) -> None:
        super().__init__()
        self.conv = M.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                             groups=groups, bias=False)
        self.bn = M.BatchNorm2d(out_channels)

    def forward(self, x: Any) -> Any:
        return F.relu6(self.bn(self.conv(x)))


class InvertedResidual(M.Module):
    """Expand (1x1) -> depthwise 3x3 -> project (1x1, linear), residual when shapes allow."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride}")
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[M.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBnReLU6(inp, hidden_dim, kernel_size=1))  # pw
        layers += [
            ConvBnReLU6(hidden_dim, hidden_dim, 3, stride, padding=1, groups=hidden_dim),  # dw
            M.ConvBn2d(hidden_dim, oup, kernel_size=1, bias=False),  # pw-linear
        ]
        self.conv = M.Sequential(*layers)
        self.add = M.Elemwise("ADD")

    def forward(self, x: Any) -> Any:
        if self.use_res_connect:
            return self.add(x, self.conv(x))
        return self.conv(x)


class MobileNetV2(M.Module):
    """MobileNet V2 classifier.

    Args:
        num_classes: outputs of the classifier.
        width_mult: channel multiplier (1.0 is the standard model; 0.25 makes a small one).
        round_nearest: channels are rounded to multiples of this.
        input_size: input height/width (a multiple of 32); the final average pool spans
            ``input_size // 32`` pixels (7 at 224x224).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        round_nearest: int = 8,
        input_size: int = 224,
    ) -> None:
        super().__init__()
        if input_size % 32:
            raise ValueError(f"MobileNetV2: input_size must be a multiple of 32, got {input_size}")
        self.pool_size = input_size // 32
        input_channel = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features: list[M.Module] = [ConvBnReLU6(3, input_channel, 3, stride=2, padding=1)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel,
                                                 s if i == 0 else 1, expand_ratio=t))
                input_channel = output_channel
        features.append(ConvBnReLU6(input_channel, self.last_channel, kernel_size=1))
        self.features = M.Sequential(*features)
        self.classifier = M.Sequential(M.Dropout(0.2), M.Linear(self.last_channel, num_classes))
        for m in self.modules():
            if isinstance(m, M.Conv2d):
                M.init.msra_normal_(m.weight, mode="fan_out")
            elif isinstance(m, M.BatchNorm2d):
                M.init.ones_(m.weight)
                M.init.zeros_(m.bias)
            elif isinstance(m, M.Linear):
                M.init.normal_(m.weight, 0, 0.01)
                M.init.zeros_(m.bias)

    def forward(self, x: Any) -> Any:
        x = self.features(x)
        x = F.avg_pool2d(x, self.pool_size)
        x = F.flatten(x, 1)
        return self.classifier(x)


def mobilenet_v2(**kwargs: Any) -> MobileNetV2:
    """MobileNet V2; ``kwargs`` go to :class:`MobileNetV2`."""
    return MobileNetV2(**kwargs)


__all__ = ["ConvBnReLU6", "InvertedResidual", "MobileNetV2", "mobilenet_v2"]
