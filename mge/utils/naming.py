"""MegEngine's ``megengine.utils.naming``: the ``AutoNaming`` handle scripts reset.

MegEngine keeps the names of traced operators in class-level tables that a script clears
with ``AutoNaming.clear()`` before each trace. mge names the ops of each trace from that
trace's own recording (:class:`mge.jit.naming.OpNamer`), so nothing carries over from one
trace to the next and ``clear`` has nothing left to reset; ``get_scope`` reports the
module scope of the trace being recorded (``""`` outside one).

Example:
    >>> AutoNaming.clear()
    >>> AutoNaming.get_scope()
    ''
"""

from __future__ import annotations

from ..core.tracing import active_call_tracer
from ..jit.naming import OpNamer


class AutoNaming:
    """Names of traced operators (MegEngine's class; see the module doc)."""

    @classmethod
    def clear(cls) -> None:
        """Forget names of earlier traces (mge keeps none across traces)."""

    @classmethod
    def get_scope(cls) -> str:
        """The dotted module scope the trace being recorded is in."""
        namer = active_call_tracer()
        if not isinstance(namer, OpNamer):
            return ""
        return ".".join(s for s in namer.scopes if s is not None)


__all__ = ["AutoNaming"]
