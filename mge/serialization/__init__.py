"""Serialization: ``save``/``load`` (pickle of eager objects); ``.mge`` files live in ``fbs``.

``add_safe_globals``/``safe_globals`` admit classes of your own in ``load``'s default
``weights_only=True`` mode (see :mod:`mge.serialization.safe_globals`).

Example:
    >>> import io, mge
    >>> buf = io.BytesIO()
    >>> save([1, 2], buf)
    >>> _ = buf.seek(0)
    >>> load(buf)
    [1, 2]
"""

from .pickle import load, save
from .safe_globals import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

__all__ = ["add_safe_globals", "clear_safe_globals", "get_safe_globals", "load", "safe_globals",
           "save"]
