"""``megengine.module.conv_transpose_bn``: MegEngine 1.13's import path of the
fused transposed convolution and batch norm layers
(defined in ``mge.module.conv_transpose``).

Example:
    >>> import mge.module as M
    >>> M.conv_transpose_bn.ConvTransposeBn2d is M.ConvTransposeBn2d
    True
"""

from .conv_transpose import ConvTransposeBn2d, ConvTransposeBnRelu2d

__all__ = ["ConvTransposeBn2d", "ConvTransposeBnRelu2d"]
