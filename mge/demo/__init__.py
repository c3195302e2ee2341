"""``mge.demo``: ``python -m mge.demo`` classifies a real photo with a real model, the whole
deployment road (see :mod:`mge.demo.cli`), using the files shipped in :mod:`mge.assets`.

Example:
    >>> from mge.demo import main, preprocess
    >>> main(["--keep", "demo_out"])  # doctest: +SKIP
    >>> preprocess(mge.assets.CAT_PHOTO, 128).shape
    (1, 3, 128, 128)
"""

from .cli import main
from .image import load_image, preprocess

__all__ = ["load_image", "main", "preprocess"]
