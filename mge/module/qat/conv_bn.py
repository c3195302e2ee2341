"""QAT ``ConvBn2d`` and ``ConvBnRelu2d``: BatchNorm folded into the fake-quantized weight
(the folding itself, shared with ``ConvTransposeBn2d``, is :class:`_BnFoldedQAT`).

In training (``approx=True``, MegEngine's default) the folded weight is fake-quantized,
the convolution's output is rescaled back and BatchNorm runs on batch statistics; in
eval the folded bias joins and the result is the folded convolution.
"""

from __future__ import annotations

from ... import functional as F
from ...tensor import Tensor
from .. import conv as Float
from .._bn_fold import batch_mean_var, bn_folded_bias, bn_scale_and_istd, update_running_stats
from ..module import Module
from .module import QATModule


class _BnFoldedQAT(QATModule):
    """BatchNorm folded into a fake-quantized convolution (``ConvBn2d`` and
    ``ConvTransposeBn2d``): subclasses give the inner convolution, the shape that puts a
    per-output-channel factor on its weight, and how to run it with a given weight and bias."""

    def _inner_conv(self) -> Module:
        raise NotImplementedError(f"{type(self).__name__} does not name its convolution")

    def _weight_shape(self) -> tuple[int, ...]:
        raise NotImplementedError(f"{type(self).__name__} does not give its weight layout")

    def _run_conv(self, inp: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not run its convolution")

    def get_batch_mean_var(self, inp: Tensor) -> tuple[Tensor, Tensor]:
        return batch_mean_var(inp)

    def fold_weight_bias(self, bn_mean: Tensor | None, bn_var: Tensor | None) -> tuple:
        """The fake-quantized folded weight and the folded bias ``(1, C, 1, 1)``."""
        conv = self._inner_conv()
        scale_factor, istd = bn_scale_and_istd(self.bn, bn_var)
        w_fold = conv.weight * scale_factor.reshape(self._weight_shape())
        w_fold = self.apply_quant_weight(w_fold)
        b_fold = bn_folded_bias(self.bn, conv.bias, bn_mean, istd).reshape(1, -1, 1, 1)
        return w_fold, b_fold

    def calc_bn_folded_qat(self, inp: Tensor, approx: bool = True) -> Tensor:
        """The folded convolution; in training with ``approx`` its output rescaled back and
        BatchNorm run on batch statistics."""
        conv = self._inner_conv()
        if self.training and not approx:
            out = conv(inp)
            bn_mean, bn_var = self.get_batch_mean_var(out)
            update_running_stats(self.bn, bn_mean, bn_var, out.size / out.shape[1])
        else:
            bn_mean, bn_var = self.bn.running_mean, self.bn.running_var
        scale_factor, istd = bn_scale_and_istd(self.bn, bn_var)
        w_fold = conv.weight * scale_factor.reshape(self._weight_shape())
        folded = not (self.training and approx)
        b_fold = (
            bn_folded_bias(self.bn, conv.bias, bn_mean, istd).reshape(1, -1, 1, 1)
            if folded else None
        )
        w_qat = self.apply_quant_weight(w_fold)
        b_qat = self.apply_quant_bias(b_fold, inp, w_qat)
        out = self._run_conv(inp, w_qat, b_qat)
        if folded:
            return out
        orig = out / scale_factor.reshape(1, -1, 1, 1)
        if conv.bias is not None:
            orig = orig + conv.bias
        return self.bn(orig)


class _ConvBnActivation2d(Float._ConvBnActivation2d, _BnFoldedQAT):
    def _inner_conv(self) -> Module:
        return self.conv

    def _weight_shape(self) -> tuple[int, ...]:
        return (-1, 1, 1, 1) if self.conv.groups == 1 else (self.conv.groups, -1, 1, 1, 1)

    def _run_conv(self, inp: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return self.conv.calc_conv(inp, weight, bias)

    def calc_conv_bn_qat(self, inp: Tensor, approx: bool = True) -> Tensor:
        return self.calc_bn_folded_qat(inp, approx)

    @classmethod
    def from_float_module(cls, float_module: Float._ConvBnActivation2d) -> _ConvBnActivation2d:
        conv = float_module.conv
        qat_module = cls(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
            conv.dilation, conv.groups, conv.bias is not None, conv.conv_mode,
            conv.compute_mode, padding_mode=conv.padding_mode, name=float_module.name,
        )
        qat_module.conv.weight = conv.weight
        qat_module.conv.bias = conv.bias
        qat_module.bn = float_module.bn
        return qat_module


class ConvBn2d(_ConvBnActivation2d):
    """QAT ``bn(conv(x))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(self.calc_conv_bn_qat(inp))


class ConvBnRelu2d(_ConvBnActivation2d):
    """QAT ``relu(bn(conv(x)))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(F.relu(self.calc_conv_bn_qat(inp)))


__all__ = ["ConvBn2d", "ConvBnRelu2d"]
