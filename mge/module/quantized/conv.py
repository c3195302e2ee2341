"""Quantized ``Conv2d``, ``ConvRelu2d``, ``ConvBn2d`` and ``ConvBnRelu2d`` (BatchNorm folded),
``ConvTranspose2d`` and ``ConvTransposeRelu2d``.

The weight is stored quantized (``qint8``), the bias in float32 and converted to
``qint32(input scale * weight scale)`` at each call, as MegEngine does. MegEngine 1.13's
quantized transposed convolution refuses a bias and its ``ConvTransposeRelu2d`` fails an
assertion when called; mge runs both (the bias joins before the requantization, ``relu``
after it, which is exact on the quantized grid).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ... import functional as F
from ...dtype import get_scale, qint32
from ...functional.quantized import conv_bias_activation, conv_transpose2d
from ...tensor import Parameter, Tensor
from .. import conv as Float
from .. import conv_transpose as FloatTranspose
from .module import QuantizedModule

if TYPE_CHECKING:  # the QAT modules import mge.quantization, which imports this
    from ..qat import conv as QAT
    from ..qat import conv_bn as QATBn



class Conv2d(Float.Conv2d, QuantizedModule):
    """Quantized :class:`~mge.module.Conv2d`; ``dtype`` is the output's quantized dtype."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: Float.IntOrPair,
        stride: Float.IntOrPair = 1, padding: Float.IntOrPair = 0,
        dilation: Float.IntOrPair = 1, groups: int = 1,
        conv_mode: str = "cross_correlation", compute_mode: str = "default",
        dtype: Any = None, padding_mode: str = "zeros", **kwargs: Any,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, True,
            conv_mode, compute_mode, padding_mode, **kwargs,
        )
        self.output_dtype = dtype

    def calc_conv_quantized(self, inp: Tensor, nonlinear_mode: str = "identity") -> Tensor:
        """``conv_bias_activation`` with the bias quantized to the accumulator's scale."""
        inp = self._check_quantized(inp)
        bias = self.bias.astype(qint32(get_scale(inp.dtype) * get_scale(self.weight.dtype)))
        padding = self.padding
        pad_mode = Float._PADDING_MODES[self.padding_mode]
        if pad_mode is not None:
            (ph, pw), padding = padding, (0, 0)
            real = F.nn.pad(
                F.elemwise.dequantize(inp), ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode=pad_mode
            )
            inp = real.astype(inp.dtype)
        return conv_bias_activation(
            inp, self.weight, bias, self.output_dtype, self.stride, padding, self.dilation,
            self.groups, nonlinear_mode=nonlinear_mode, conv_mode=self.conv_mode,
            compute_mode=self.compute_mode,
        )

    @classmethod
    def from_qat_module(cls, qat_module: QAT.Conv2d) -> Conv2d:
        qconv = cls(
            qat_module.in_channels, qat_module.out_channels, qat_module.kernel_size,
            qat_module.stride, qat_module.padding, qat_module.dilation, qat_module.groups,
            dtype=qat_module.get_activation_dtype(), padding_mode=qat_module.padding_mode,
            name=qat_module.name,
        )
        weight = qat_module.weight.astype(qat_module.get_weight_dtype())
        qconv.weight = Parameter(weight.numpy(), name=qat_module.weight.name)
        bias = qat_module.bias
        qconv.bias = Parameter(
            bias.numpy() if bias is not None
            else np.zeros((1, qat_module.out_channels, 1, 1), dtype=np.float32)
        )
        return qconv

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_conv_quantized(inp, nonlinear_mode="identity")


class ConvRelu2d(Conv2d):
    """Quantized ``relu(conv2d(x))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_conv_quantized(inp, nonlinear_mode="relu")


def load_folded_bn(qconv: Any, qat_module: Any, conv: Any) -> Any:
    """Give the quantized conv ``qconv`` the weight and bias of QAT conv+BN module
    ``qat_module`` with its BatchNorm folded in (running statistics), the weight in the
    module's weight dtype, named as the float ``conv``'s; returns ``qconv``."""
    w_fold, b_fold = qat_module.fold_weight_bias(
        qat_module.bn.running_mean, qat_module.bn.running_var
    )
    weight = w_fold.astype(qat_module.get_weight_dtype())
    qconv.weight = Parameter(weight.numpy(), name=conv.weight.name)
    qconv.bias = Parameter(b_fold.numpy(), name=None if conv.bias is None else conv.bias.name)
    return qconv


class _ConvBnActivation2d(Conv2d):
    @classmethod
    def from_qat_module(cls, qat_module: QATBn._ConvBnActivation2d) -> _ConvBnActivation2d:
        conv = qat_module.conv
        qconv = cls(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
            conv.dilation, conv.groups, dtype=qat_module.get_activation_dtype(),
            name=qat_module.name, padding_mode=conv.padding_mode,
        )
        return load_folded_bn(qconv, qat_module, conv)


class ConvBn2d(_ConvBnActivation2d):
    """Quantized ``bn(conv(x))`` (BatchNorm folded into weight and bias)."""


class ConvBnRelu2d(_ConvBnActivation2d):
    """Quantized ``relu(bn(conv(x)))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_conv_quantized(inp, nonlinear_mode="relu")


class ConvTranspose2d(FloatTranspose.ConvTranspose2d, QuantizedModule):
    """Quantized :class:`~mge.module.ConvTranspose2d`; ``dtype`` is the output's quantized
    dtype."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: Float.IntOrPair,
        stride: Float.IntOrPair = 1, padding: Float.IntOrPair = 0,
        output_padding: Float.IntOrPair = 0, dilation: Float.IntOrPair = 1, groups: int = 1,
        bias: bool = True, conv_mode: str = "cross_correlation",
        compute_mode: str = "default", dtype: Any = None, **kwargs: Any,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, output_padding, dilation,
            groups, bias, conv_mode, compute_mode, **kwargs,
        )
        self.output_dtype = dtype

    def calc_conv_transpose2d_quantized(
        self, inp: Tensor, nonlinear_mode: str = "identity"
    ) -> Tensor:
        """:func:`~mge.functional.quantized.conv_transpose2d` with the bias quantized to the
        accumulator's scale, then ``relu`` when ``nonlinear_mode`` says so."""
        inp = self._check_quantized(inp)
        bias = self.bias
        if bias is not None:
            bias = bias.astype(qint32(get_scale(inp.dtype) * get_scale(self.weight.dtype)))
        out = conv_transpose2d(
            inp, self.weight, bias, self.output_dtype, self.stride, self.padding,
            self.output_padding, self.dilation, self.groups, self.conv_mode,
            self.compute_mode,
        )
        return F.relu(out) if nonlinear_mode == "relu" else out

    @classmethod
    def from_qat_module(cls, qat_module: QAT.ConvTranspose2d) -> ConvTranspose2d:
        qconv = cls(
            qat_module.in_channels, qat_module.out_channels, qat_module.kernel_size,
            qat_module.stride, qat_module.padding, qat_module.output_padding,
            qat_module.dilation, qat_module.groups, qat_module.bias is not None,
            qat_module.conv_mode, qat_module.compute_mode,
            dtype=qat_module.get_activation_dtype(), name=qat_module.name,
        )
        weight = qat_module.weight.astype(qat_module.get_weight_dtype())
        qconv.weight = Parameter(weight.numpy(), name=qat_module.weight.name)
        bias = qat_module.bias
        qconv.bias = None if bias is None else Parameter(bias.numpy(), name=bias.name)
        return qconv

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_conv_transpose2d_quantized(inp, nonlinear_mode="identity")


class ConvTransposeRelu2d(ConvTranspose2d):
    """Quantized ``relu(conv_transpose2d(x))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_conv_transpose2d_quantized(inp, nonlinear_mode="relu")


__all__ = [
    "Conv2d", "ConvBn2d", "ConvBnRelu2d", "ConvRelu2d", "ConvTranspose2d", "ConvTransposeRelu2d",
]
