"""``mge.module.quantized``: inference modules on quantized tensors (MegEngine 1.13).

Example:
    >>> import mge.module.quantized as Q
    >>> sorted(n for n in Q.__all__ if n.startswith("Conv") and "Transpose" not in n)
    ['Conv2d', 'ConvBn2d', 'ConvBnRelu2d', 'ConvRelu2d']
"""

from .conv import (
    Conv2d,
    ConvBn2d,
    ConvBnRelu2d,
    ConvRelu2d,
    ConvTranspose2d,
    ConvTransposeRelu2d,
)
from .conv_transpose_bn import ConvTransposeBn2d, ConvTransposeBnRelu2d
from .elemwise import Concat, Elemwise
from .linear import BatchMatMulActivation, Linear, LinearBn1d, LinearBnRelu1d, LinearRelu
from .module import QuantizedModule
from .quant_dequant import DequantStub, QuantStub

__all__ = [
    "BatchMatMulActivation", "Concat", "Conv2d", "ConvBn2d", "ConvBnRelu2d", "ConvRelu2d",
    "ConvTranspose2d", "ConvTransposeBn2d", "ConvTransposeBnRelu2d", "ConvTransposeRelu2d",
    "DequantStub", "Elemwise", "Linear", "LinearBn1d", "LinearBnRelu1d", "LinearRelu",
    "QuantizedModule", "QuantStub",
]
