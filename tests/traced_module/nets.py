"""Small modules used by the TracedModule tests."""

from __future__ import annotations

import numpy as np

import mge
import mge.functional as F
import mge.module as M
from mge.tensor import Parameter


class Block(M.Module):
    """A user module with a parameter, a function call and Tensor operators."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.scale = Parameter(np.linspace(0.5, 2.0, channels, dtype=np.float32).reshape(1, -1))

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        return F.relu(x * self.scale) + 1


class Net(M.Module):
    """Two user blocks, a builtin leaf and two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.b1 = Block()
        self.b2 = Block()
        self.act = M.ReLU()

    def forward(self, x: mge.Tensor) -> tuple[mge.Tensor, mge.Tensor]:
        y = self.b2(self.b1(x))
        return self.act(y - 3), y


class ConvBnNet(M.Module):
    """conv+bn pairs as modules, as functions and as a fused builtin, plus scale chains."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        self.conv1 = M.Conv2d(3, 8, 3, padding=1)
        self.bn1 = M.BatchNorm2d(8)
        self.convbn = M.ConvBnRelu2d(8, 8, 3, padding=1, groups=2)
        self.w = Parameter(rng.standard_normal((4, 8, 1, 1)).astype(np.float32))
        self.mean = mge.Tensor(rng.standard_normal((1, 4, 1, 1)).astype(np.float32))
        self.var = mge.Tensor(rng.uniform(0.5, 2, (1, 4, 1, 1)).astype(np.float32))
        for bn in (self.bn1, self.convbn.bn):
            c = bn.num_features
            bn.running_mean = mge.Tensor(rng.standard_normal((1, c, 1, 1)).astype(np.float32))
            bn.running_var = mge.Tensor(rng.uniform(0.5, 2, (1, c, 1, 1)).astype(np.float32))
            bn.weight = Parameter(rng.uniform(0.5, 1.5, (1, c, 1, 1)).astype(np.float32))
            bn.bias = Parameter(rng.standard_normal((1, c, 1, 1)).astype(np.float32))

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.convbn(x)
        y = F.conv2d(x, self.w)
        y = F.batch_norm(y, self.mean, self.var, training=False)
        y = (y * 2.0) * 0.5
        return (y + 1.0) + 2.0


def data(*shape: int, seed: int = 0) -> mge.Tensor:
    return mge.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))
