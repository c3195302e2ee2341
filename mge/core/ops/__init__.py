"""``megengine.core.ops``: MegEngine's namespace of imperative ops (see :mod:`.builtin`)."""

from . import builtin

__all__ = ["builtin"]
