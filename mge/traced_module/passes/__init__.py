"""``tm.optimize`` and its passes (registered by name)."""

from .optimization import PASSES, optimize, register_pass

__all__ = ["PASSES", "optimize", "register_pass"]
