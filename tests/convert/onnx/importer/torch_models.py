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


def dynamic_models() -> dict[str, tuple[nn.Module, list[tuple[int, ...]], dict[int, str]]]:
    """``{name: (module in eval mode, two input shapes, dynamic axes)}``."""
    torch.manual_seed(0)
    models: dict[str, tuple[Any, list[tuple[int, ...]], dict[int, str]]] = {
        "view": (FlattenHead(), [(2, 3, 4), (5, 3, 4)], {0: "batch"}),
        "resnet": (SmallResNet(), [(2, 3, 64, 64), (3, 3, 96, 80)],
                   {0: "batch", 2: "height", 3: "width"}),
        "encoder": (EncoderBlock(), [(2, 5, 16), (3, 7, 16)], {0: "batch", 1: "sequence"}),
    }
    for module, _, _ in models.values():
        module.eval()
    return models
