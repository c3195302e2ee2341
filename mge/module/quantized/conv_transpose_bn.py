"""Quantized ``ConvTransposeBn2d`` and ``ConvTransposeBnRelu2d`` (MegEngine 1.13): the QAT
module's BatchNorm folded into the quantized weight and a float bias (quantized at each
call, as :class:`~mge.module.quantized.conv.ConvTranspose2d` does).

Example:
    >>> import mge.module.quantized as Q
    >>> issubclass(Q.ConvTransposeBn2d, Q.ConvTranspose2d)
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...tensor import Tensor
from .conv import ConvTranspose2d, load_folded_bn

if TYPE_CHECKING:  # the QAT modules import mge.quantization, which imports this
    from ..qat import conv_transpose_bn as QAT


class _ConvTransposeBnActivation2d(ConvTranspose2d):
    @classmethod
    def from_qat_module(
        cls, qat_module: QAT._ConvTransposeBnActivation2d
    ) -> _ConvTransposeBnActivation2d:
        conv = qat_module.conv_transpose2d
        qconv = cls(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
            conv.output_padding, conv.dilation, conv.groups,
            dtype=qat_module.get_activation_dtype(), name=qat_module.name,
        )
        return load_folded_bn(qconv, qat_module, conv)


class ConvTransposeBn2d(_ConvTransposeBnActivation2d):
    """Quantized ``bn(conv_transpose2d(x))`` (BatchNorm folded)."""


class ConvTransposeBnRelu2d(_ConvTransposeBnActivation2d):
    """Quantized ``relu(bn(conv_transpose2d(x)))`` (BatchNorm folded)."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_conv_transpose2d_quantized(inp, nonlinear_mode="relu")


__all__ = ["ConvTransposeBn2d", "ConvTransposeBnRelu2d"]
