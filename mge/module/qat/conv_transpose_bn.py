"""QAT ``ConvTransposeBn2d`` and ``ConvTransposeBnRelu2d`` (MegEngine 1.13): BatchNorm folded
into the fake-quantized weight of a transposed convolution, as :mod:`.conv_bn` does for
``ConvBn2d`` (the weight is ``(IC, OC, KH, KW)``, or ``(G, IC/G, OC/G, KH, KW)`` grouped, so
the per-output-channel factor goes on axis 1, or 2).

Example:
    >>> import mge.module as M, mge.module.qat as QAT
    >>> type(QAT.ConvTransposeBn2d.from_float_module(M.ConvTransposeBn2d(3, 8, 3)).bn).__name__
    'BatchNorm2d'
"""

from __future__ import annotations

from ... import functional as F
from ...tensor import Tensor
from .. import conv_transpose as Float
from ..module import Module
from .conv_bn import _BnFoldedQAT


class _ConvTransposeBnActivation2d(Float._ConvTransposeBnActivation2d, _BnFoldedQAT):
    def _inner_conv(self) -> Module:
        return self.conv_transpose2d

    def _weight_shape(self) -> tuple[int, ...]:
        groups = self.conv_transpose2d.groups
        return (1, -1, 1, 1) if groups == 1 else (groups, 1, -1, 1, 1)

    def _run_conv(self, inp: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return self.conv_transpose2d.calc_conv_transpose2d(inp, weight, bias)

    def calc_conv_transpose2d_bn_qat(self, inp: Tensor, approx: bool = True) -> Tensor:
        return self.calc_bn_folded_qat(inp, approx)

    @classmethod
    def from_float_module(
        cls, float_module: Float._ConvTransposeBnActivation2d
    ) -> _ConvTransposeBnActivation2d:
        conv = float_module.conv_transpose2d
        qat_module = cls(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
            conv.output_padding, conv.dilation, conv.groups, conv.bias is not None,
            conv.conv_mode, conv.compute_mode, name=float_module.name,
        )
        qat_module.conv_transpose2d.weight = conv.weight
        qat_module.conv_transpose2d.bias = conv.bias
        qat_module.bn = float_module.bn
        return qat_module


class ConvTransposeBn2d(_ConvTransposeBnActivation2d):
    """QAT ``bn(conv_transpose2d(x))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(self.calc_conv_transpose2d_bn_qat(inp))


class ConvTransposeBnRelu2d(_ConvTransposeBnActivation2d):
    """QAT ``relu(bn(conv_transpose2d(x)))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(F.relu(self.calc_conv_transpose2d_bn_qat(inp)))


__all__ = ["ConvTransposeBn2d", "ConvTransposeBnRelu2d"]
