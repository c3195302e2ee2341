"""MegEngine's ``megengine.core.tensor.megbrain_graph`` names for ``.mge`` graphs, and its
small graph API: ``InputNode`` / ``apply_normal_varnode`` / ``OutputNode`` (and callbacks) on a
``Graph`` that is compiled and executed (:mod:`mge.utils.network_node`).

Example:
    >>> from mge.core.tensor import megbrain_graph as G
    >>> G.load_graph("test.mge").output_vars_list[0].owner.inputs[0].dtype  # doctest: +SKIP
    dtype('float16')
"""

from __future__ import annotations

from ...graph.ir import OpNode, VarNode
from ...serialization.mge_graph import (
    CompGraphDumpResult,
    CompGraphLoadResult,
    dump_graph,
    load_graph,
)
from ...utils.network_node import (
    AttrOutputNode,
    Graph,
    InputNode,
    OutputNode,
    TensorAttr,
    apply_normal_varnode,
    input_callback,
    output_callback,
)

__all__ = [
    "AttrOutputNode", "CompGraphDumpResult", "CompGraphLoadResult", "Graph", "InputNode", "OpNode",
    "OutputNode", "TensorAttr", "VarNode", "apply_normal_varnode", "dump_graph", "input_callback",
    "load_graph", "output_callback",
]
