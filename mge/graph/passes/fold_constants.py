"""``fold_constants``: ops whose inputs are all constants become constants.

The numpy backend computes them once (MegEngine's ``ParamFusePass``; the sweep itself is
the rewrite engine's :func:`~mge.graph.rewrite.fold_constants`, shared with
``tm.optimize``). Every folded output becomes its own constant: distinct constants are
never merged, even when equal (MegEngine 1.13 merges them and miscompiles ``clip``).
Outputs much larger than the inputs (over :data:`~.util.MAX_GROWTH` elements) stay.

Example:
    >>> run_passes(graph, ["fold_constants"])   # doctest: +SKIP
"""

from __future__ import annotations

from .. import rewrite
from ..ir import Graph
from .registry import register_pass
from .util import GraphView


@register_pass("fold_constants")
def fold_constants(graph: Graph) -> bool:
    """Evaluate constant-only ops and replace their outputs by constants."""
    return rewrite.fold_constants(GraphView(graph))
