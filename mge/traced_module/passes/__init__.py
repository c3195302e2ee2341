"""``tm.optimize`` and its passes (registered by name; rules for the rewrite engine)."""

from .optimization import optimize
from .registry import PASSES, register_pass

__all__ = ["PASSES", "optimize", "register_pass"]
