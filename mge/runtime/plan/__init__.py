"""Compiled execution plans: a graph for fixed input shapes, bound to one backend.

Two halves: :mod:`.protocol` (what a plan backend provides, how backends are registered
and chosen: :class:`PlanBackend`, :class:`PlanOptions`, :func:`register_plan_backend`)
and :mod:`.engine` (:class:`Plan` binds a graph's ops to a backend's prepared kernels,
analyses buffer lifetimes and runs them; :class:`PlanCache` keeps one graph's plans by
input shapes).

Example:
    >>> import numpy as np
    >>> from mge.graph import Graph
    >>> from mge.ops import Elemwise
    >>> g = Graph()
    >>> x = g.add_input("x", (3,), "float32")
    >>> g.outputs = g.add_op(Elemwise(mode="RELU"), [x])
    >>> plan = Plan(g, PlanOptions(backend="numpy"))
    >>> plan.run(np.array([-1.0, 0.0, 2.0], np.float32))
    [array([0., 0., 2.], dtype=float32)]
"""

from .engine import Observer, Plan, PlanCache, StepInfo
from .protocol import (
    INFERENCE_PASSES,
    PLAN_BACKENDS,
    BindSite,
    BoundOp,
    GraphRunner,
    PlanBackend,
    PlanOptions,
    WeightCache,
    available_plan_backends,
    plan_backend_class,
    register_plan_backend,
)

__all__ = [
    "INFERENCE_PASSES",
    "PLAN_BACKENDS",
    "BindSite",
    "BoundOp",
    "GraphRunner",
    "Observer",
    "Plan",
    "PlanBackend",
    "PlanCache",
    "PlanOptions",
    "StepInfo",
    "WeightCache",
    "available_plan_backends",
    "plan_backend_class",
    "register_plan_backend",
]
