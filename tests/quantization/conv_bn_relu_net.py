"""A small float net that every int8 path quantizes: Conv-BN-ReLU, a depthwise Conv-BN
and a fused add-relu between quant stubs (PTQ dumps run in MegEngine, QDQ export)."""

from __future__ import annotations

import numpy as np

import mge
import mge.module as M
from mge.quantization import (
    calibration_qconfig,
    disable_observer,
    enable_observer,
    quantize,
    quantize_qat,
)


class ConvBnReluNet(M.Module):
    """Conv-BN-ReLU, a depthwise Conv-BN and a fused add-relu between quant stubs."""

    def __init__(self) -> None:
        super().__init__()
        self.q, self.dq = M.QuantStub(), M.DequantStub()
        self.c1 = M.ConvBnRelu2d(3, 8, 3, padding=1)
        self.c2 = M.ConvBn2d(8, 8, 3, padding=1, groups=8)
        self.add = M.Elemwise("fuse_add_relu")

    def forward(self, x: mge.Tensor) -> mge.Tensor:
        y = self.c1(self.q(x))
        return self.dq(self.add(y, self.c2(y)))


def calibrated_int8(net: M.Module, x: np.ndarray) -> M.Module:
    """The int8 PTQ of the float ``net`` (QuantStub/DequantStub around what it quantizes)
    calibrated on ``x``, in eval mode."""
    net.eval()
    net = quantize_qat(net, calibration_qconfig)
    enable_observer(net)
    net(mge.tensor(x))
    disable_observer(net)
    net.eval()
    net = quantize(net)
    net.eval()
    return net


def quantized_conv_bn_relu_net(x: np.ndarray) -> M.Module:
    """The int8 PTQ of a fresh :class:`ConvBnReluNet` calibrated on ``x`` (eval mode)."""
    return calibrated_int8(ConvBnReluNet(), x)
