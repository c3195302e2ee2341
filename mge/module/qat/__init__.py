"""``mge.module.qat``: quantization-aware versions of the layers MegEngine quantizes.

Example:
    >>> import mge.module as M, mge.module.qat as QAT
    >>> QAT.Conv2d.from_float_module(M.Conv2d(3, 8, 3)).with_weight
    True
"""

from .conv import Conv2d, ConvRelu2d, ConvTranspose2d, ConvTransposeRelu2d
from .conv_bn import ConvBn2d, ConvBnRelu2d
from .conv_transpose_bn import ConvTransposeBn2d, ConvTransposeBnRelu2d
from .elemwise import Concat, Elemwise
from .linear import BatchMatMulActivation, Linear, LinearRelu
from .linear_bn import LinearBn1d, LinearBnRelu1d
from .module import QATModule
from .quant_dequant import DequantStub, QuantStub

__all__ = [
    "BatchMatMulActivation", "Concat", "Conv2d", "ConvBn2d", "ConvBnRelu2d", "ConvRelu2d",
    "ConvTranspose2d", "ConvTransposeBn2d", "ConvTransposeBnRelu2d", "ConvTransposeRelu2d",
    "DequantStub", "Elemwise", "Linear", "LinearBn1d", "LinearBnRelu1d", "LinearRelu",
    "QATModule", "QuantStub",
]
