"""Quantized ``QuantStub`` (float to its quantized dtype) and ``DequantStub`` (back)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...dtype import dtype_name, is_quantize
from ...tensor import Tensor
from .module import QuantizedModule

if TYPE_CHECKING:  # the QAT modules import mge.quantization, which imports this
    from ..qat import quant_dequant as QAT



class QuantStub(QuantizedModule):
    """Converts its float input to ``dtype`` (the QAT stub's activation dtype)."""

    def __init__(self, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_dtype = dtype

    def forward(self, inp: Tensor) -> Tensor:
        if isinstance(inp, Tensor) and is_quantize(inp.dtype):
            raise TypeError(
                "QuantStub: expected a float tensor, got the quantized dtype "
                f"{dtype_name(inp.dtype)}"
            )
        return inp.astype(self.output_dtype)

    @classmethod
    def from_qat_module(cls, qat_module: QAT.QuantStub) -> QuantStub:
        return cls(qat_module.get_activation_dtype(), name=qat_module.name)


class DequantStub(QuantizedModule):
    """Converts its quantized input back to float32."""

    def forward(self, inp: Tensor) -> Tensor:
        return self._check_quantized(inp).astype("float32")

    @classmethod
    def from_qat_module(cls, qat_module: QAT.DequantStub) -> DequantStub:
        return cls(name=qat_module.name)


__all__ = ["DequantStub", "QuantStub"]
