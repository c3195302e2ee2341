"""``mge.module.quantized``: inference modules on quantized tensors (MegEngine 1.13).

Example:
    >>> import mge.module.quantized as Q
    >>> sorted(n for n in Q.__all__ if n.startswith("Conv"))
    ['Conv2d', 'ConvBn2d', 'ConvBnRelu2d', 'ConvRelu2d']
"""

from .conv import Conv2d, ConvBn2d, ConvBnRelu2d, ConvRelu2d
from .elemwise import Concat, Elemwise
from .linear import BatchMatMulActivation, Linear, LinearBn1d, LinearBnRelu1d, LinearRelu
from .module import QuantizedModule
from .quant_dequant import DequantStub, QuantStub

__all__ = [
    "BatchMatMulActivation", "Concat", "Conv2d", "ConvBn2d", "ConvBnRelu2d", "ConvRelu2d",
    "DequantStub", "Elemwise", "Linear", "LinearBn1d", "LinearBnRelu1d", "LinearRelu",
    "QuantizedModule", "QuantStub",
]
