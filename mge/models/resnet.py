"""ResNet-18/50 in MegEngine's official layout (MegEngine/Models, ``classification/resnet``).

Attribute names match the official model, so its pretrained ``state_dict`` keys load
as is: ``conv1``, ``bn1``, ``layer1``..``layer4`` (Sequentials of ``BasicBlock`` /
``Bottleneck`` with ``conv1/bn1/conv2/bn2[/conv3/bn3]`` and ``downsample``, an
``Identity`` or a ``Sequential(Conv2d, BatchNorm2d)``) and ``fc``. Only
``mge.functional`` and ``mge.module`` are used, so the file also runs under real
MegEngine when ``mge`` is aliased to ``megengine``.

Example:
    >>> import numpy as np, mge
    >>> from mge.models.resnet import resnet18
    >>> net = resnet18(num_classes=10, input_size=64)
    >>> net.eval()
    >>> net(mge.tensor(np.zeros((1, 3, 64, 64), "float32"))).shape
    (1, 10)
"""

from __future__ import annotations

import math
from typing import Any

import mge.functional as F
import mge.module as M


class BasicBlock(M.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = M.Conv2d(in_channels, channels, 3, stride, padding=1, bias=False)
        self.bn1 = M.BatchNorm2d(channels)
        self.conv2 = M.Conv2d(channels, channels, 3, 1, padding=1, bias=False)
        self.bn2 = M.BatchNorm2d(channels)
        self.downsample = _shortcut(in_channels, channels, stride)

    def forward(self, x: Any) -> Any:
        identity = x
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return F.relu(x + self.downsample(identity))


class Bottleneck(M.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) with a residual connection (ResNet-50 and up)."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = M.Conv2d(in_channels, channels, 1, 1, bias=False)
        self.bn1 = M.BatchNorm2d(channels)
        self.conv2 = M.Conv2d(channels, channels, 3, stride, padding=1, bias=False)
        self.bn2 = M.BatchNorm2d(channels)
        self.conv3 = M.Conv2d(channels, out_channels, 1, 1, bias=False)
        self.bn3 = M.BatchNorm2d(out_channels)
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: Any) -> Any:
        identity = x
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return F.relu(x + self.downsample(identity))


def _shortcut(in_channels: int, out_channels: int, stride: int) -> M.Module:
    if in_channels == out_channels and stride == 1:
        return M.Identity()
    return M.Sequential(
        M.Conv2d(in_channels, out_channels, 1, stride, bias=False), M.BatchNorm2d(out_channels)
    )


class ResNet(M.Module):
    """The ResNet trunk: a 7x7/2 stem, a 3x3/2 max pool, four stages, average pool, ``fc``.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: number of blocks in each of the four stages.
        num_classes: outputs of ``fc``.
        input_size: input height/width (a multiple of 32); the final average pool spans
            ``input_size // 32`` pixels (7 for MegEngine's 224x224 model).

    Weights are initialised as the official model does (MSRA-normal fan_out convs, BN
    weight 1 / bias 0, ``fc`` from MSRA-uniform with a = sqrt(5)), from ``mge.random``.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        input_size: int = 224,
    ) -> None:
        super().__init__()
        if input_size % 32:
            raise ValueError(f"ResNet: input_size must be a multiple of 32, got {input_size}")
        self.pool_size = input_size // 32
        self.in_channels = 64
        self.conv1 = M.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = M.BatchNorm2d(64)
        self.maxpool = M.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.fc = M.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, M.Conv2d):
                M.init.msra_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, M.BatchNorm2d):
                M.init.ones_(m.weight)
                M.init.zeros_(m.bias)
            elif isinstance(m, M.Linear):
                M.init.msra_uniform_(m.weight, a=math.sqrt(5))
                fan_in, _ = M.init.calculate_fan_in_and_fan_out(m.weight)
                M.init.uniform_(m.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def _make_layer(self, block: Any, channels: int, blocks: int, stride: int = 1) -> M.Module:
        layers = [block(self.in_channels, channels, stride)]
        self.in_channels = channels * block.expansion
        layers += [block(self.in_channels, channels) for _ in range(1, blocks)]
        return M.Sequential(*layers)

    def extract_features(self, x: Any) -> dict[str, Any]:
        """The stem and each stage's output: ``stem``, ``res2`` .. ``res5``."""
        outputs = {}
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        outputs["stem"] = x
        for name, layer in zip(("res2", "res3", "res4", "res5"),
                               (self.layer1, self.layer2, self.layer3, self.layer4)):
            x = layer(x)
            outputs[name] = x
        return outputs

    def forward(self, x: Any) -> Any:
        x = self.extract_features(x)["res5"]
        x = F.avg_pool2d(x, self.pool_size)
        x = F.flatten(x, 1)
        return self.fc(x)


def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]); ``kwargs`` go to :class:`ResNet`."""
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]); ``kwargs`` go to :class:`ResNet`."""
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)


__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet50"]
