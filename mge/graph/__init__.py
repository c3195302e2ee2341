"""The static graph IR and its passes (see :mod:`mge.graph.ir`)."""

from .ir import (
    ConstOp,
    Graph,
    GraphError,
    Host2DeviceCopy,
    ImmutableTensor,
    OpNode,
    SharedDeviceTensor,
    VarNode,
)

__all__ = [
    "ConstOp",
    "Graph",
    "GraphError",
    "Host2DeviceCopy",
    "ImmutableTensor",
    "OpNode",
    "SharedDeviceTensor",
    "VarNode",
]
