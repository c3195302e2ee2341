"""Vision transforms (MegEngine's ``megengine.data.transform.vision``)."""

from .transform import *  # noqa: F403
from .transform import __all__ as __all__
