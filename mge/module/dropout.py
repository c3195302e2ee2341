"""``megengine.module.dropout``: MegEngine 1.13's import path of the dropout layer
(defined in ``mge.module.wrappers``).

Example:
    >>> import mge.module as M
    >>> M.dropout.Dropout is M.Dropout
    True
"""

from .wrappers import Dropout

__all__ = ["Dropout"]
