"""Transforms (MegEngine's ``megengine.data.transform``)."""

from .meta_transform import PseudoTransform, Transform
from .vision import *  # noqa: F403
from .vision import __all__ as _vision_all

__all__ = ["PseudoTransform", "Transform", *_vision_all]
