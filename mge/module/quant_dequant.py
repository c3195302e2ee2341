"""``QuantStub`` and ``DequantStub``: where a network enters and leaves the quantized domain.

As float modules they return their input; ``quantize_qat`` turns them into QAT modules
(the stub observes and fake-quantizes its input) and ``quantize`` into quantized ones
(converting to and from the quantized dtype).

Example:
    >>> import mge, mge.module as M
    >>> M.QuantStub()(mge.tensor([1.0])).numpy()
    array([1.], dtype=float32)
"""

from __future__ import annotations

from ..tensor import Tensor
from .module import Module


class QuantStub(Module):
    """Returns its input; marks where quantization starts."""

    def forward(self, inp: Tensor) -> Tensor:
        return inp


class DequantStub(Module):
    """Returns its input; marks where quantization ends."""

    def forward(self, inp: Tensor) -> Tensor:
        return inp


__all__ = ["DequantStub", "QuantStub"]
