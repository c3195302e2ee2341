"""Quantized ``Linear``, ``LinearRelu``, ``LinearBn1d``, ``LinearBnRelu1d`` and
``BatchMatMulActivation``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ... import functional as F
from ...dtype import get_scale, qint32
from ...functional.quantized import batch_conv_bias_activation
from ...tensor import Parameter, Tensor
from .. import batch_matmul_activation as FloatBmm
from .module import QuantizedModule

if TYPE_CHECKING:  # the QAT modules import mge.quantization, which imports this
    from ..qat import linear as QAT
    from ..qat import linear_bn as QATBn



class Linear(QuantizedModule):
    """Quantized :class:`~mge.module.Linear`; ``dtype`` is the output's quantized dtype."""

    def __init__(self, dtype: np.dtype | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weight: Parameter | None = None
        self.bias: Parameter | None = None
        self.output_dtype = dtype

    def calc_linear_quantized(self, inp: Tensor, nonlinear_mode: str = "identity") -> Tensor:
        """``act(inp @ weight.T + bias)`` as MegEngine computes it: an integer
        ``MatrixMul`` (``qint32``), the bias in ``qint32`` of scale ``scale_inp *
        scale_weight`` added, the sum converted to ``output_dtype``, then the activation."""
        inp = self._check_quantized(inp)
        if nonlinear_mode not in ("identity", "relu"):
            raise ValueError(f"{type(self).__name__}: unknown nonlinear_mode {nonlinear_mode!r}")
        bias = None
        if self.bias is not None:
            bias = self.bias.astype(qint32(get_scale(inp.dtype) * get_scale(self.weight.dtype)))
        ret = F.linear(inp, self.weight, bias)
        ret = ret if self.output_dtype is None else ret.astype(self.output_dtype)
        return F.relu(ret) if nonlinear_mode == "relu" else ret

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_linear_quantized(inp)

    @classmethod
    def from_qat_module(cls, qat_module: QAT.Linear) -> Linear:
        qmod = cls(dtype=qat_module.get_activation_dtype(), name=qat_module.name)
        weight = qat_module.weight.astype(qat_module.get_weight_dtype())
        qmod.weight = Parameter(weight.numpy(), name=qat_module.weight.name)
        if qat_module.bias is not None:
            qmod.bias = Parameter(qat_module.bias.numpy(), name=qat_module.bias.name)
        return qmod


class LinearRelu(Linear):
    """Quantized ``relu(linear(x))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_linear_quantized(inp, nonlinear_mode="relu")


class _LinearBnActivation1d(Linear):
    @classmethod
    def from_qat_module(cls, qat_module: QATBn._LinearBnActivation1d) -> _LinearBnActivation1d:
        qlinear = cls(dtype=qat_module.get_activation_dtype(), name=qat_module.name)
        w_fold, b_fold = qat_module.fold_weight_bias(
            qat_module.bn.running_mean, qat_module.bn.running_var
        )
        weight = w_fold.astype(qat_module.get_weight_dtype())
        qlinear.weight = Parameter(weight.numpy(), name=qat_module.linear.weight.name)
        bias = qat_module.linear.bias
        qlinear.bias = Parameter(b_fold.numpy(), name=None if bias is None else bias.name)
        return qlinear


class LinearBn1d(_LinearBnActivation1d):
    """Quantized ``bn(linear(x))`` (BatchNorm folded)."""


class LinearBnRelu1d(_LinearBnActivation1d):
    """Quantized ``relu(bn(linear(x)))``."""

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_linear_quantized(inp, nonlinear_mode="relu")


class BatchMatMulActivation(FloatBmm.BatchMatMulActivation, QuantizedModule):
    """Quantized :class:`~mge.module.BatchMatMulActivation` (MegEngine's layout: weight
    ``(batch, out, in, 1, 1)``, bias ``(1, out, 1, 1)``)."""

    def __init__(
        self, batch: int, in_features: int, out_features: int, bias: bool = True,
        nonlinear_mode: str = "identity", dtype: Any = None, **kwargs: Any,
    ) -> None:
        super().__init__(batch, in_features, out_features, bias, nonlinear_mode, **kwargs)
        self.output_dtype = dtype

    def calc_bmm_quantized(self, inp: Tensor) -> Tensor:
        inp = self._check_quantized(inp)
        bias_scale = get_scale(inp.dtype) * get_scale(self.weight.dtype)
        res = batch_conv_bias_activation(
            F.expand_dims(inp, [-1]), self.weight, self.bias.astype(qint32(bias_scale)),
            dtype=self.output_dtype, nonlinear_mode=self.nonlinear_mode,
        )
        return F.squeeze(res, -1)

    @classmethod
    def from_qat_module(cls, qat_module: QAT.BatchMatMulActivation) -> BatchMatMulActivation:
        qbmm = cls(
            qat_module.batch, qat_module.in_features, qat_module.out_features,
            qat_module.bias is not None, qat_module.nonlinear_mode,
            dtype=qat_module.get_activation_dtype(), name=qat_module.name,
        )
        weight = qat_module.weight.astype(qat_module.get_weight_dtype()).numpy()
        qbmm.weight = Parameter(weight[..., None, None], name=qat_module.weight.name)
        out = qbmm.out_features
        bias = (
            qat_module.bias.numpy().reshape(1, out, 1, 1) if qat_module.bias is not None
            else np.zeros((1, out, 1, 1), dtype=np.float32)
        )
        qbmm.bias = Parameter(bias)
        return qbmm

    def forward(self, inp: Tensor) -> Tensor:
        return self.calc_bmm_quantized(inp)


__all__ = [
    "BatchMatMulActivation", "Linear", "LinearBn1d", "LinearBnRelu1d", "LinearRelu",
]
