"""QAT ``Linear``, ``LinearRelu`` and ``BatchMatMulActivation``."""

from __future__ import annotations

from ... import functional as F
from ...tensor import Tensor
from .. import batch_matmul_activation as FloatBmm
from .. import linear as Float
from .module import QATModule


class Linear(Float.Linear, QATModule):
    """QAT :class:`~mge.module.Linear`: fake-quantized weight and bias, then activation."""

    def calc_linear_qat(self, inp: Tensor) -> Tensor:
        w_qat = self.apply_quant_weight(self.weight)
        b_qat = self.apply_quant_bias(self.bias, inp, w_qat)
        return self.calc_linear(inp, w_qat, b_qat)

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(self.calc_linear_qat(inp))

    @classmethod
    def from_float_module(cls, float_module: Float.Linear) -> Linear:
        qmod = cls(float_module.in_features, float_module.out_features, name=float_module.name)
        qmod.weight = float_module.weight
        qmod.bias = float_module.bias
        return qmod


class LinearRelu(Linear):
    """QAT ``relu(linear(x))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(F.relu(self.calc_linear_qat(inp)))


class BatchMatMulActivation(FloatBmm.BatchMatMulActivation, QATModule):
    """QAT :class:`~mge.module.BatchMatMulActivation`."""

    def forward(self, inp: Tensor) -> Tensor:
        w_qat = self.apply_quant_weight(self.weight)
        b_qat = self.apply_quant_bias(self.bias, inp, w_qat)
        return self.apply_quant_activation(self._calc_linear(inp, w_qat, b_qat))

    @classmethod
    def from_float_module(
        cls, float_module: FloatBmm.BatchMatMulActivation
    ) -> BatchMatMulActivation:
        # MegEngine 1.13 drops nonlinear_mode here (a ReLU layer loses its ReLU); kept
        qat_module = cls(
            float_module.batch, float_module.in_features, float_module.out_features,
            float_module.bias is not None, float_module.nonlinear_mode, name=float_module.name,
        )
        qat_module.weight = float_module.weight
        qat_module.bias = float_module.bias
        return qat_module


__all__ = ["BatchMatMulActivation", "Linear", "LinearRelu"]
