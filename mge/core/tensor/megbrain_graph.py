"""MegEngine's ``megengine.core.tensor.megbrain_graph`` names for ``.mge`` graphs.

Example:
    >>> from mge.core.tensor import megbrain_graph as G
    >>> G.load_graph("test.mge").output_vars_list[0].owner.inputs[0].dtype  # doctest: +SKIP
    dtype('float16')
"""

from ...graph.ir import OpNode, VarNode
from ...serialization.mge_graph import (
    CompGraphDumpResult,
    CompGraphLoadResult,
    dump_graph,
    load_graph,
)

__all__ = [
    "CompGraphDumpResult", "CompGraphLoadResult", "OpNode", "VarNode", "dump_graph", "load_graph",
]
