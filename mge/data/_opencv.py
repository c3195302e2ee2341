"""OpenCV, the image library behind mge.data (as behind MegEngine's): an optional dependency.

Interpolation flags are OpenCV's integer values, so ``Resize(256, cv2.INTER_CUBIC)`` and
``Resize(256, INTER_CUBIC)`` mean the same without importing cv2 here.
"""

from __future__ import annotations

import types

INTER_NEAREST = 0
INTER_LINEAR = 1
INTER_CUBIC = 2
INTER_AREA = 3
INTER_LANCZOS4 = 4

EXTRA = "vision"


def require_cv2(user: str) -> types.ModuleType:
    """The ``cv2`` module; ``user`` (what needs it) is named in the error when it is missing."""
    try:
        import cv2
    except ImportError as error:
        raise ImportError(
            f"{user} needs OpenCV, which is not installed: pip install 'mge[{EXTRA}]' "
            "(it brings opencv-python-headless, the library MegEngine's data pipeline uses)"
        ) from error
    return cv2
