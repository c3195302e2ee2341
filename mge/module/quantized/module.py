"""``QuantizedModule``: the base of modules that run on quantized tensors (inference only).

Example:
    >>> import mge, mge.module.quantized as Q
    >>> from mge.dtype import qint8
    >>> stub = Q.QuantStub(qint8(0.1))
    >>> stub.eval()
    >>> stub(mge.tensor([0.26])).numpy().tolist()
    [3]
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from ...dtype import dtype_name, is_quantize
from ...tensor import Tensor
from ..module import Module


class QuantizedModule(Module):
    """Base of quantized modules: made from QAT modules by ``from_qat_module`` /
    :func:`~mge.quantization.quantize`; calling one in training mode raises ``ValueError``."""

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        if self.training:
            raise ValueError("quantized module only support inference.")
        return super().__call__(*inputs, **kwargs)

    def __repr__(self) -> str:
        return "Quantized." + super().__repr__()

    def _check_quantized(self, inp: Any, what: str = "input") -> Tensor:
        """``inp`` if it is a quantized Tensor; else a TypeError naming this module."""
        if not isinstance(inp, Tensor) or not is_quantize(inp.dtype):
            is_tensor = isinstance(inp, Tensor)
            got = f"dtype {dtype_name(inp.dtype)}" if is_tensor else type(inp).__name__
            raise TypeError(
                f"{type(self).__name__}: the {what} must be a quantized tensor (put a "
                f"QuantStub before it), got {got}"
            )
        return inp

    @classmethod
    @abstractmethod
    def from_qat_module(cls, qat_module: Module) -> QuantizedModule:
        """The quantized module for a QAT module (weights converted, scales fixed)."""


__all__ = ["QuantizedModule"]
