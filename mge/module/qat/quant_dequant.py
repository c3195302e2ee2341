"""QAT ``QuantStub`` (observes and fake-quantizes its input) and ``DequantStub``."""

from __future__ import annotations

from ...tensor import Tensor
from .. import quant_dequant as Float
from .module import QATModule


class QuantStub(Float.QuantStub, QATModule):
    """Returns its input fake-quantized; becomes a conversion to the quantized dtype."""

    with_weight = False

    def forward(self, inp: Tensor) -> Tensor:
        return self.apply_quant_activation(inp)

    @classmethod
    def from_float_module(cls, float_module: Float.QuantStub) -> QuantStub:
        return cls(name=float_module.name)


class DequantStub(Float.DequantStub, QATModule):
    """Returns its input; becomes a conversion back to float32."""

    with_weight = False
    with_act = False

    def forward(self, inp: Tensor) -> Tensor:
        return inp

    @classmethod
    def from_float_module(cls, float_module: Float.DequantStub) -> DequantStub:
        return cls(name=float_module.name)


__all__ = ["DequantStub", "QuantStub"]
