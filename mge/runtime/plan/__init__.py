"""Compiled execution plans: a graph for fixed input shapes, bound to one backend.

Two halves: :mod:`.protocol` (what a plan backend provides, how backends are registered
and chosen: :class:`PlanBackend`, :class:`PlanOptions`, :func:`register_plan_backend`)
and :mod:`.engine` (:class:`Plan` binds a graph's ops to a backend's prepared kernels,
analyses buffer lifetimes and runs them; :class:`PlanCache` keeps one graph's plans by
input shapes).

Example:
    >>> from mge.runtime import plan
    >>> plan.Plan is plan.engine.Plan and plan.PlanBackend is plan.protocol.PlanBackend
    True
"""

from . import engine, protocol
from .engine import *  # noqa: F403
from .protocol import *  # noqa: F403

__all__ = [*engine.__all__, *protocol.__all__]
