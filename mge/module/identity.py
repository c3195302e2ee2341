"""``megengine.module.identity``: MegEngine 1.13's import path of the identity layer
(defined in ``mge.module.wrappers``).

Example:
    >>> import mge.module as M
    >>> M.identity.Identity is M.Identity
    True
"""

from .wrappers import Identity

__all__ = ["Identity"]
