"""The small nets of the golden fixtures (``make_golden.py``), written in MegEngine style
at reduced width so the files stay small: a conv/BN/linear net used for the dump-option
matrix, ResNet-18, ShuffleNetV2 and MobileNetV2 variants, an image preprocessing head, and
a net that shows MegEngine 1.13's ``F.clip`` dump bug. Run by the oracle interpreter
(real MegEngine 1.13), never imported by ``mge``.
"""

from __future__ import annotations

import megengine as mge
import megengine.functional as F
import megengine.module as M
import numpy as np


class ConvNet(M.Module):
    """Small net exercising conv+bias+relu, conv+BN+relu, pooling, mean and linear.

    Pooling is average pooling on purpose: MegEngine 1.13's float16 max pooling on
    x86 CPU returns garbage, which would spoil the float16 dump-option fixtures.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = M.Conv2d(3, 8, 3, padding=1)
        self.conv2 = M.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = M.BatchNorm2d(16)
        self.pool = M.AvgPool2d(2)
        self.fc = M.Linear(16, num_classes)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.pool(x)
        x = F.mean(x, axis=(2, 3))
        return self.fc(x)


class BasicBlock(M.Module):
    """ResNet basic block: two 3x3 conv+BN, identity or 1x1 projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = M.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = M.BatchNorm2d(cout)
        self.conv2 = M.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = M.BatchNorm2d(cout)
        self.downsample = (
            M.Sequential(M.Conv2d(cin, cout, 1, stride=stride, bias=False), M.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + identity)


class ResNet18(M.Module):
    """ResNet-18 layout (2-2-2-2 basic blocks) with a configurable base width."""

    def __init__(self, width: int = 4, num_classes: int = 10):
        super().__init__()
        self.conv1 = M.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = M.BatchNorm2d(width)
        self.maxpool = M.MaxPool2d(kernel_size=3, stride=2, padding=1)
        chans = [width, width * 2, width * 4, width * 8]
        layers = []
        cin = width
        for i, cout in enumerate(chans):
            stride = 1 if i == 0 else 2
            layers.append(M.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = M.AdaptiveAvgPool2d((1, 1))
        self.fc = M.Linear(chans[-1], num_classes)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = F.flatten(self.avgpool(x), 1)
        return self.fc(x)


def channel_shuffle(x: mge.Tensor, groups: int) -> mge.Tensor:
    """ShuffleNet channel shuffle through reshape / transpose / reshape."""
    n, c, h, w = x.shape
    x = x.reshape(n, groups, c // groups, h, w)
    x = F.transpose(x, (0, 2, 1, 3, 4))
    return x.reshape(n, c, h, w)


class ShuffleV2Block(M.Module):
    """ShuffleNetV2 unit: split / two branches / concat / channel shuffle."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride = stride
        mid = cout // 2
        branch_in = cin if stride == 2 else cin // 2
        self.branch2 = M.Sequential(
            M.Conv2d(branch_in, mid, 1, bias=False),
            M.BatchNorm2d(mid),
            M.ReLU(),
            M.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=mid, bias=False),
            M.BatchNorm2d(mid),
            M.Conv2d(mid, mid, 1, bias=False),
            M.BatchNorm2d(mid),
            M.ReLU(),
        )
        self.branch1 = (
            M.Sequential(
                M.Conv2d(cin, cin, 3, stride=2, padding=1, groups=cin, bias=False),
                M.BatchNorm2d(cin),
                M.Conv2d(cin, mid, 1, bias=False),
                M.BatchNorm2d(mid),
                M.ReLU(),
            )
            if stride == 2
            else None
        )

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        if self.branch1 is None:
            x1, x2 = F.split(x, 2, axis=1)
            out = F.concat([x1, self.branch2(x2)], axis=1)
        else:
            out = F.concat([self.branch1(x), self.branch2(x)], axis=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(M.Module):
    """ShuffleNetV2 layout at reduced width and depth."""

    def __init__(self, stages: tuple[int, ...] = (16, 32, 64), repeats=(2, 3, 2), num_classes=10):
        super().__init__()
        stem = 8
        self.first_conv = M.Sequential(
            M.Conv2d(3, stem, 3, stride=2, padding=1, bias=False), M.BatchNorm2d(stem), M.ReLU()
        )
        self.maxpool = M.MaxPool2d(kernel_size=3, stride=2, padding=1)
        blocks = []
        cin = stem
        for cout, rep in zip(stages, repeats):
            for i in range(rep):
                blocks.append(ShuffleV2Block(cin, cout, 2 if i == 0 else 1))
                cin = cout
        self.features = M.Sequential(*blocks)
        self.conv_last = M.Sequential(
            M.Conv2d(cin, 128, 1, bias=False), M.BatchNorm2d(128), M.ReLU()
        )
        self.classifier = M.Linear(128, num_classes)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = self.maxpool(self.first_conv(x))
        x = self.conv_last(self.features(x))
        x = F.avg_pool2d(x, x.shape[2])
        return self.classifier(F.flatten(x, 1))


class ConvBNReLU6(M.Module):
    """Conv + BN + ReLU6 (``groups`` > 1 gives the depthwise variant)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv = M.Conv2d(
            cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False
        )
        self.bn = M.BatchNorm2d(cout)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        return F.relu6(self.bn(self.conv(x)))


class InvertedResidual(M.Module):
    """MobileNetV2 inverted residual: expand 1x1, depthwise 3x3, linear project, skip."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[M.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU6(cin, hidden, kernel=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            M.Conv2d(hidden, cout, 1, bias=False),
            M.BatchNorm2d(cout),
        ]
        self.conv = M.Sequential(*layers)

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = self.conv(x)
        return x + y if self.use_res else y


class MobileNetV2(M.Module):
    """MobileNetV2 layout (t, c, n, s settings) at reduced width and depth."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        settings = [(1, 8, 1, 1), (4, 12, 2, 2), (4, 16, 2, 2), (4, 24, 2, 2)]
        layers: list[M.Module] = [ConvBNReLU6(3, 8, stride=2)]
        cin = 8
        for t, c, n, s in settings:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(ConvBNReLU6(cin, 64, kernel=1))
        self.features = M.Sequential(*layers)
        self.classifier = M.Sequential(M.Dropout(0.2), M.Linear(64, num_classes))

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = self.features(x)
        x = F.mean(x, axis=(2, 3))
        return self.classifier(x)


class Preprocess(M.Module):
    """uint8 NHWC image -> float32 -> warp_perspective resize (NHWC) -> normalize -> NCHW."""

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]):
        super().__init__()
        self.out_hw = out_hw
        sy, sx = in_hw[0] / out_hw[0], in_hw[1] / out_hw[1]
        # maps output pixel centres to input pixel centres (dst -> src)
        mat = np.array(
            [[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]], "float32"
        )
        self.mat = mge.tensor(mat[None])
        self.mean = mge.tensor(np.array([103.53, 116.28, 123.675], "float32").reshape(1, 1, 1, 3))
        self.std = mge.tensor(np.array([57.375, 57.12, 58.395], "float32").reshape(1, 1, 1, 3))
        self.body = ConvNet()

    def forward(self, img: mge.Tensor) -> mge.Tensor:
        x = img.astype("float32")
        x = F.vision.warp_perspective(x, self.mat, self.out_hw, format="NHWC")
        x = (x - self.mean) / self.std
        x = F.transpose(x, (0, 3, 1, 2))
        return self.body(x)


class ClipNet(M.Module):
    """``F.clip(x, 0, 6)``: MegEngine 1.13 dumps it as ``MIN(c0, MAX(x, c0))``."""

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        return F.clip(x, 0, 6)


class TwoHeads(M.Module):
    """ConvNet features feeding two named outputs (logits and probabilities)."""

    def __init__(self):
        super().__init__()
        self.body = ConvNet()

    def forward(self, x: mge.Tensor) -> tuple[mge.Tensor, mge.Tensor]:
        logits = self.body(x)
        return logits, F.softmax(logits, axis=1)
