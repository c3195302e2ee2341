"""Small torch models exported with dynamic axes for the ONNX import tests (torch needed)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class FlattenHead(nn.Module):
    """``x.view(x.size(0), -1)`` then a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.view(x.size(0), -1))


class BasicBlock(nn.Module):
    """ResNet-18's basic block (a strided one has a 1x1 projection shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                  nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class SmallResNet(nn.Module):
    """ResNet-18's layout at a small width: stem, max pool, 4 stages, global pool, head,
    flattened with ``x.view(x.size(0), -1)`` as torchvision's older models do."""

    def __init__(self, width: int = 8, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], width
        for k, stride in enumerate((1, 2, 2, 2)):
            cout = width * 2 ** k
            stages += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.stages(self.stem(x)))
        return self.fc(y.view(y.size(0), -1))


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder block whose attention reshapes by the run-time batch
    and sequence sizes (``x.shape``), as hand-written attention layers do."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, dim = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(batch, seq, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        weights = torch.softmax(q @ k.transpose(-2, -1) / (dim // self.heads) ** 0.5, dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(batch, seq, dim)
        x = x + self.proj(attended)
        return x + self.ffn(self.norm2(x))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """torchvision's channel shuffle: ``view`` by the run-time sizes, transpose, ``view``."""
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batch, channels, height, width)


class InvertedResidual(nn.Module):
    """torchvision's ShuffleNetV2 unit (split or strided branches, concat, shuffle)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        mid = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU())
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(cin if stride > 1 else mid, mid, 1, bias=False), nn.BatchNorm2d(mid),
            nn.ReLU(), nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid), nn.Conv2d(mid, mid, 1, bias=False), nn.BatchNorm2d(mid),
            nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class SmallShuffleNetV2(nn.Module):
    """torchvision's ``ShuffleNetV2`` at a small width and depth (same code paths: channel
    shuffles by run-time sizes, ``chunk``, global pooling by ``mean([2, 3])``)."""

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32, 64, 128), classes: int = 10
                 ) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, channels[0], 3, 2, 1, bias=False),
                                   nn.BatchNorm2d(channels[0]), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], channels[0]
        for cout in channels[1:4]:
            stages += [InvertedResidual(cin, cout, 2), InvertedResidual(cout, cout, 1)]
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.conv5 = nn.Sequential(nn.Conv2d(cin, channels[-1], 1, bias=False),
                                   nn.BatchNorm2d(channels[-1]), nn.ReLU())
        self.fc = nn.Linear(channels[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv5(self.stages(self.maxpool(self.conv1(x))))
        return self.fc(x.mean([2, 3]))


class TorchEncoderLayer(nn.Module):
    """``torch.nn.TransformerEncoderLayer`` (batch first, no dropout); ``is_causal`` is
    passed explicitly (torch 2.13's TorchScript export otherwise traces it as a Tensor).
    That export fixes the sequence length in one attention ``Reshape`` (onnxruntime too
    refuses another one), so only the batch is dynamic."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0,
                                                batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x, is_causal=False)


def dynamic_models() -> dict[str, tuple[nn.Module, list[tuple[int, ...]], dict[int, str]]]:
    """``{name: (module in eval mode, two input shapes, dynamic axes)}``."""
    torch.manual_seed(0)
    models: dict[str, tuple[Any, list[tuple[int, ...]], dict[int, str]]] = {
        "view": (FlattenHead(), [(2, 3, 4), (5, 3, 4)], {0: "batch"}),
        "resnet": (SmallResNet(), [(2, 3, 64, 64), (3, 3, 96, 80)],
                   {0: "batch", 2: "height", 3: "width"}),
        "encoder": (EncoderBlock(), [(2, 5, 16), (3, 7, 16)], {0: "batch", 1: "sequence"}),
        "shufflenet": (SmallShuffleNetV2(), [(2, 3, 64, 64), (3, 3, 96, 80)],
                       {0: "batch", 2: "height", 3: "width"}),
        "transformer": (TorchEncoderLayer(), [(2, 5, 16), (3, 5, 16)], {0: "batch"}),
    }
    for module, _, _ in models.values():
        module.eval()
    return models
