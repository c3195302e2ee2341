"""``megengine.module.conv_bn``: MegEngine 1.13's import path of the fused
convolution and batch norm layers
(defined in ``mge.module.conv``).

Example:
    >>> import mge.module as M
    >>> M.conv_bn.ConvBn2d is M.ConvBn2d
    True
"""

from .conv import ConvBn2d, ConvBnRelu2d

__all__ = ["ConvBn2d", "ConvBnRelu2d"]
