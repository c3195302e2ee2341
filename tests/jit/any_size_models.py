"""ResNet-18 and ShuffleNetV2 that take any input size (global pooling instead of the
224-only 7x7 average pool), traced at one size and dumped for the symbolic-shape tests."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

import mge
import mge.functional as F
import mge.module as M
from mge.jit import trace
from mge.models import resnet18, shufflenet_v2_x0_5
from mge.models.resnet import ResNet


class _GlobalPoolResNet(ResNet):
    def forward(self, x: Any) -> Any:
        x = self.extract_features(x)["res5"]
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return self.fc(F.flatten(x, 1))


def resnet18_any_size() -> ResNet:
    net = resnet18()
    net.__class__ = _GlobalPoolResNet
    return net


def shufflenet_any_size() -> Any:
    net = shufflenet_v2_x0_5()
    net.globalpool = M.AdaptiveAvgPool2d(1)
    return net


MODELS = {"resnet18": resnet18_any_size, "shufflenet_v2": shufflenet_any_size}


def traced_dump(name: str, size: int = 224, **dump_options: Any) -> tuple[Any, bytes]:
    """(eval-mode net, ``.mge`` bytes dumped from ``jit.trace`` at ``size`` x ``size``)."""
    net = MODELS[name]()
    net.eval()

    @trace(symbolic=True, capture_as_const=True)
    def fun(data):  # noqa: ANN001, ANN202
        return net(data)

    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    fun(mge.tensor(x))
    buf = io.BytesIO()
    fun.dump(buf, arg_names=["data"], **dump_options)
    return net, buf.getvalue()
