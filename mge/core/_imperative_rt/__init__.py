"""``megengine.core._imperative_rt``: the names of MegEngine's C++ runtime module that
user-level code (and MegEngine's own tests) reach for: :mod:`.core2`, :mod:`.ops` (rng
handles), ``CompNode`` and ``OperatorNodeConfig``."""

from ...device import CompNode
from . import core2, ops
from .config import OperatorNodeConfig

__all__ = ["CompNode", "OperatorNodeConfig", "core2", "ops"]
