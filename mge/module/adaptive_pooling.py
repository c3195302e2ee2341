"""``megengine.module.adaptive_pooling``: MegEngine 1.13's import path of the adaptive poolings
(defined in ``mge.module.pooling``).

Example:
    >>> import mge.module as M
    >>> M.adaptive_pooling.AdaptiveAvgPool2d is M.AdaptiveAvgPool2d
    True
"""

from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d

__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]
