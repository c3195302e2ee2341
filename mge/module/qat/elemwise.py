"""QAT ``Elemwise`` and ``Concat``: the float op, then activation fake quantization."""

from __future__ import annotations

from collections.abc import Iterable

from ...tensor import Tensor
from .. import wrappers as Float
from .module import QATModule


class Elemwise(Float.Elemwise, QATModule):
    """QAT :class:`~mge.module.Elemwise` (no weight)."""

    with_weight = False

    def forward(self, *inps: Tensor) -> Tensor:
        return self.apply_quant_activation(super().forward(*inps))

    @classmethod
    def from_float_module(cls, float_module: Float.Elemwise) -> Elemwise:
        return cls(float_module.method, name=float_module.name)


class Concat(Float.Concat, QATModule):
    """QAT :class:`~mge.module.Concat` (it keeps MegEngine's ``with_weight = True``)."""

    def forward(self, inps: Iterable[Tensor], axis: int = 0) -> Tensor:
        return self.apply_quant_activation(super().forward(inps, axis))

    @classmethod
    def from_float_module(cls, float_module: Float.Concat) -> Concat:
        return cls(name=float_module.name)


__all__ = ["Concat", "Elemwise"]
