"""``megengine.core._imperative_rt``: the names of MegEngine's C++ runtime module that
user-level code (and MegEngine's own tests) reach for; see :mod:`.core2`."""

from . import core2, ops

__all__ = ["core2", "ops"]
