"""Small ``.mge`` models for the Lite tests, dumped once per session with ``trace.dump``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import mge
import mge.functional as F
import mge.module as M
from mge.jit import trace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "megengine"


class SmallNet(M.Module):
    """conv-bn-relu, depthwise relu6, residual, global pool, FC: logits and softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = M.BatchNorm2d(8)
        self.dw = M.Conv2d(8, 8, 3, padding=1, groups=8)
        self.fc = M.Linear(8, 10)

    def forward(self, x: mge.Tensor) -> dict[str, mge.Tensor]:
        x = F.relu(self.bn(self.conv(x)))
        x = F.relu(F.relu6(self.dw(x)) + x)
        logits = self.fc(F.flatten(F.avg_pool2d(x, x.shape[2:]), 1))
        return {"logits": logits, "prob": F.softmax(logits, 1)}


def dump_model(module: M.Module, path: Path, shape: tuple[int, ...], **options: object) -> Path:
    """Trace ``module`` on zeros of ``shape`` (input ``data``) and dump it to ``path``."""

    @trace(symbolic=True, capture_as_const=True)
    def pred(data: mge.Tensor) -> object:
        return module(data)

    pred(mge.tensor(np.zeros(shape, np.float32)))
    pred.dump(str(path), arg_names=["data"], **options)
    return path


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mge.random.seed(7)
    net = SmallNet()
    net.eval()
    return dump_model(net, tmp_path_factory.mktemp("lite") / "small.mge", (1, 3, 8, 8),
                      enable_fuse_conv_bias_nonlinearity=True)


@pytest.fixture(scope="session")
def make_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``make_model(module, shape, **dump_options)`` -> path of a fresh dump."""
    folder = tmp_path_factory.mktemp("models")
    count = iter(range(10**6))

    def make(module: M.Module, shape: tuple[int, ...], **options: object) -> Path:
        return dump_model(module, folder / f"model{next(count)}.mge", shape, **options)

    return make


def image(shape: tuple[int, ...] = (1, 3, 8, 8), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
