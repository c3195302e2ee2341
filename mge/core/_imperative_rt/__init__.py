"""``megengine.core._imperative_rt``: the names of MegEngine's C++ runtime module that
user-level code (and MegEngine's own tests) reach for: :mod:`.core2`, :mod:`.ops` (rng
handles) and ``CompNode``."""

from ...device import CompNode
from . import core2, ops

__all__ = ["CompNode", "core2", "ops"]
