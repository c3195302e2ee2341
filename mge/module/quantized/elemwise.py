"""Quantized ``Elemwise`` and ``Concat``: the op on real values, requantized to ``dtype``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ... import functional as F
from ...functional.elemwise import _elemwise_multi_type
from ...tensor import Tensor
from .module import QuantizedModule

if TYPE_CHECKING:  # the QAT modules import mge.quantization, which imports this
    from ..qat import elemwise as QAT



class Elemwise(QuantizedModule):
    """Quantized :class:`~mge.module.Elemwise` (MegEngine's ``ElemwiseMultiType`` ``q*`` modes)."""

    def __init__(self, method: str, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.method = "q" + method
        self.output_dtype = dtype

    def forward(self, *inps: Tensor) -> Tensor:
        for i, inp in enumerate(inps):
            self._check_quantized(inp, f"input {i}")
        if self.method.upper() == "QRELU6":
            # MegEngine's ElemwiseMultiType has no QRELU6: QRELU, then QMIN with 6 in the
            # output dtype; equal, as quantization is monotonic (q(min(a, 6)) = min(q(a), q(6)))
            y = _elemwise_multi_type(*inps, mode="QRELU", dtype=self.output_dtype)
            six = F.astype(Tensor(6.0, dtype="float32"), y.dtype)
            return _elemwise_multi_type(y, six, mode="QMIN", dtype=self.output_dtype)
        return _elemwise_multi_type(*inps, mode=self.method, dtype=self.output_dtype)

    @classmethod
    def from_qat_module(cls, qat_module: QAT.Elemwise) -> Elemwise:
        return cls(qat_module.method, qat_module.get_activation_dtype(), name=qat_module.name)


class Concat(QuantizedModule):
    """Quantized concatenation: every input requantized to ``dtype``."""

    def __init__(self, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_dtype = dtype

    def forward(self, inps: Iterable[Tensor], axis: int = 0) -> Tensor:
        reals = [
            F.elemwise.dequantize(self._check_quantized(x, f"input {i}"))
            for i, x in enumerate(inps)
        ]
        return F.concat(reals, axis).astype(self.output_dtype)

    @classmethod
    def from_qat_module(cls, qat_module: QAT.Concat) -> Concat:
        return cls(qat_module.get_activation_dtype(), name=qat_module.name)


__all__ = ["Concat", "Elemwise"]
