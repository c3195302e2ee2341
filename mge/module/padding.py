"""``megengine.module.padding``: MegEngine 1.13's import path of the padding layer
(defined in ``mge.module.wrappers``).

Example:
    >>> import mge.module as M
    >>> M.padding.Pad is M.Pad
    True
"""

from .wrappers import Pad

__all__ = ["Pad"]
