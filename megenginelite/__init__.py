"""``megenginelite``: the name MegEngine's Lite Python package is imported under; it is
:mod:`mge.lite`.

Example:
    >>> from megenginelite import LiteNetwork, LiteDeviceType
    >>> LiteDeviceType.LITE_CUDA.value
    1
"""

from mge.lite import *  # noqa: F403
from mge.lite import __all__, __version__, version  # noqa: F401
