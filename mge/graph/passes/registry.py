"""The graph passes' registry: ``register_pass``, ``run_passes`` (the engine's
:class:`~mge.graph.rewrite.PassRegistry` over :class:`~mge.graph.Graph`, linted after
every pass).

Example:
    >>> @register_pass("my_pass", requires=("fold_constants",))  # doctest: +SKIP
    ... def my_pass(graph):
    ...     return False
    >>> run_passes(graph, ["my_pass"])                             # doctest: +SKIP
    []
"""

from __future__ import annotations

from collections.abc import Iterable

from ..ir import Graph
from ..rewrite import PassRegistry

#: every graph pass by name (``PASSES[name].run(graph)``, ``PASSES[name].requires``)
PASSES: PassRegistry[Graph] = PassRegistry("graph", Graph.lint)
register_pass = PASSES.register


def run_passes(graph: Graph, names: Iterable[str], lint: bool = True) -> list[str]:
    """Run passes ``names`` (prerequisites first, each once) on ``graph`` in place.

    Returns the names of the passes that changed the graph. ``graph.lint()`` runs after
    every pass when ``lint`` is true.
    """
    return PASSES.run(graph, list(names), lint=lint)


__all__ = ["PASSES", "register_pass", "run_passes"]
