"""QAT ``Conv2d``, ``ConvRelu2d``, ``ConvTranspose2d`` and ``ConvTransposeRelu2d``:
fake-quantized weight and bias, then activation."""

from __future__ import annotations

from ... import functional as F
from ...tensor import Tensor
from .. import conv as Float
from .. import conv_transpose as FloatTranspose
from .module import QATModule


class Conv2d(Float.Conv2d, QATModule):
    """QAT :class:`~mge.module.Conv2d`."""

    def calc_conv_qat(self, inp: Tensor) -> Tensor:
        w_qat = self.apply_quant_weight(self.weight)
        b_qat = self.apply_quant_bias(self.bias, inp, w_qat)
        return self.calc_conv(inp, w_qat, b_qat)

    @classmethod
    def from_float_module(cls, float_module: Float.Conv2d) -> Conv2d:
        qat_module = cls(
            float_module.in_channels, float_module.out_channels, float_module.kernel_size,
            float_module.stride, float_module.padding, float_module.dilation,
            float_module.groups, float_module.bias is not None, float_module.conv_mode,
            float_module.compute_mode, float_module.padding_mode, name=float_module.name,
        )
        qat_module.weight = float_module.weight
        qat_module.bias = float_module.bias
        return qat_module

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(self.calc_conv_qat(inp))


class ConvRelu2d(Conv2d):
    """QAT ``relu(conv2d(x))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(F.relu(self.calc_conv_qat(inp)))


class ConvTranspose2d(FloatTranspose.ConvTranspose2d, QATModule):
    """QAT :class:`~mge.module.ConvTranspose2d`."""

    def calc_conv_transpose2d_qat(self, inp: Tensor) -> Tensor:
        w_qat = self.apply_quant_weight(self.weight)
        b_qat = self.apply_quant_bias(self.bias, inp, w_qat)
        return self.calc_conv_transpose2d(inp, w_qat, b_qat)

    @classmethod
    def from_float_module(cls, float_module: FloatTranspose.ConvTranspose2d) -> ConvTranspose2d:
        qat_module = cls(
            float_module.in_channels, float_module.out_channels, float_module.kernel_size,
            float_module.stride, float_module.padding, float_module.output_padding,
            float_module.dilation, float_module.groups, float_module.bias is not None,
            float_module.conv_mode, float_module.compute_mode, name=float_module.name,
        )
        qat_module.weight = float_module.weight
        qat_module.bias = float_module.bias
        return qat_module

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(self.calc_conv_transpose2d_qat(inp))


class ConvTransposeRelu2d(ConvTranspose2d):
    """QAT ``relu(conv_transpose2d(x))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(F.relu(self.calc_conv_transpose2d_qat(inp)))


__all__ = ["Conv2d", "ConvRelu2d", "ConvTranspose2d", "ConvTransposeRelu2d"]
