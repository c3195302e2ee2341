"""QAT ``LinearBn1d`` and ``LinearBnRelu1d``: BatchNorm1d folded into the fake-quantized
weight (as the convolution forms in :mod:`.conv_bn`)."""

from __future__ import annotations

from ... import functional as F
from ...tensor import Tensor
from .. import linear_bn as Float
from .._bn_fold import batch_mean_var, bn_folded_bias, bn_scale_and_istd, update_running_stats
from .module import QATModule


class _LinearBnActivation1d(Float._LinearBnActivation1d, QATModule):
    def get_batch_mean_var(self, inp: Tensor) -> tuple[Tensor, Tensor]:
        return batch_mean_var(inp)

    def fold_weight_bias(self, bn_mean: Tensor | None, bn_var: Tensor | None) -> tuple:
        """The fake-quantized folded weight and the folded bias ``(C,)``."""
        scale_factor, istd = bn_scale_and_istd(self.bn, bn_var)
        w_fold = self.apply_quant_weight(self.linear.weight * scale_factor.reshape(-1, 1))
        return w_fold, bn_folded_bias(self.bn, self.linear.bias, bn_mean, istd)

    def calc_linear_bn_qat(self, inp: Tensor, approx: bool = True) -> Tensor:
        if self.training and not approx:
            linear = self.linear(inp)
            bn_mean, bn_var = self.get_batch_mean_var(linear)
            update_running_stats(self.bn, bn_mean, bn_var, linear.size / linear.shape[1])
        # MegEngine folds with the running statistics in every mode
        bn_mean, bn_var = self.bn.running_mean, self.bn.running_var
        scale_factor, istd = bn_scale_and_istd(self.bn, bn_var)
        w_fold = self.linear.weight * scale_factor.reshape(-1, 1)
        folded = not (self.training and approx)
        b_fold = bn_folded_bias(self.bn, self.linear.bias, bn_mean, istd) if folded else None
        w_qat = self.apply_quant_weight(w_fold)
        b_qat = self.apply_quant_bias(b_fold, inp, w_qat)
        linear = self.linear.calc_linear(inp, w_qat, b_qat)
        if folded:
            return linear
        orig_linear = linear / scale_factor.reshape(1, -1)
        if self.linear.bias is not None:
            orig_linear = orig_linear + self.linear.bias.reshape(1, -1)
        return self.bn(orig_linear)

    @classmethod
    def from_float_module(
        cls, float_module: Float._LinearBnActivation1d
    ) -> _LinearBnActivation1d:
        linear, bn = float_module.linear, float_module.bn
        qat_module = cls(
            linear.in_features, linear.out_features, linear.bias is not None,
            linear.compute_mode, bn.eps, bn.momentum, bn.affine, bn.track_running_stats,
            name=float_module.name,
        )
        qat_module.linear.weight = linear.weight
        qat_module.linear.bias = linear.bias
        qat_module.bn = bn
        return qat_module


class LinearBn1d(_LinearBnActivation1d):
    """QAT ``bn(linear(x))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(self.calc_linear_bn_qat(inp))


class LinearBnRelu1d(_LinearBnActivation1d):
    """QAT ``relu(bn(linear(x)))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(F.relu(self.calc_linear_bn_qat(inp)))


__all__ = ["LinearBn1d", "LinearBnRelu1d"]
