"""``megengine.module.lrn``: MegEngine 1.13's import path of local response normalization
(defined in ``mge.module.normalization``).

Example:
    >>> import mge.module as M
    >>> M.lrn.LocalResponseNorm is M.LocalResponseNorm
    True
"""

from .normalization import LocalResponseNorm

__all__ = ["LocalResponseNorm"]
