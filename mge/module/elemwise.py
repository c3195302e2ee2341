"""``megengine.module.elemwise``: MegEngine 1.13's import path of the element-wise layer
(defined in ``mge.module.wrappers``).

Example:
    >>> import mge.module as M
    >>> M.elemwise.Elemwise is M.Elemwise
    True
"""

from .wrappers import Elemwise

__all__ = ["Elemwise"]
