"""Rebuild a graph for new input shapes: :mod:`mge.graph.specialize`, at the address the
runtime and its users import it from.

Example:
    >>> from mge.runtime.specialize import specialize
    >>> specialize.__module__
    'mge.graph.specialize'
"""

from __future__ import annotations

from ..graph.specialize import ShapeError, graph_input, has_sources, specialize

__all__ = ["ShapeError", "graph_input", "has_sources", "specialize"]
