"""Serialization: ``save``/``load`` (pickle of eager objects); ``.mge`` files live in ``fbs``.

Example:
    >>> import io, mge
    >>> buf = io.BytesIO()
    >>> save([1, 2], buf)
    >>> _ = buf.seek(0)
    >>> load(buf)
    [1, 2]
"""

from .pickle import load, save

__all__ = ["load", "save"]
