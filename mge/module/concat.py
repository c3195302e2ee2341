"""``megengine.module.concat``: MegEngine 1.13's import path of the concatenation layer
(defined in ``mge.module.wrappers``).

Example:
    >>> import mge.module as M
    >>> M.concat.Concat is M.Concat
    True
"""

from .wrappers import Concat

__all__ = ["Concat"]
