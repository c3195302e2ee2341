"""``remove_noop``: drop ops that return their input unchanged.

An op with one input and one output of the same shape and dtype is replaced by its
input when the op says so (``OpDef.is_noop``: ``Reshape``/``Broadcast`` to the input's
own shape, ``TypeCvt`` to its own dtype, an identity ``Dimshuffle``, ``AxisAddRemove``,
``Subtensor`` without items), as MegEngine's ``RemoveNonComputingOprPass``. Graph
outputs keep their names: a no-op between an input (or another output) and an output
stays.

Example:
    >>> run_passes(graph, ["remove_noop"])   # doctest: +SKIP
"""

from __future__ import annotations

from ...core.opdef import TensorInfo
from ..index import GraphIndex
from ..ir import Graph, OpNode
from .registry import register_pass


def _is_noop(node: OpNode) -> bool:
    if len(node.inputs) != 1 or len(node.outputs) != 1:
        return False
    x, y = node.inputs[0], node.outputs[0]
    if (x.shape, x.dtype) != (y.shape, y.dtype):
        return False
    return node.op.is_noop([TensorInfo(x.shape, x.dtype)], [TensorInfo(y.shape, y.dtype)])


@register_pass("remove_noop")
def remove_noop(graph: Graph) -> bool:
    """Replace no-op reshapes, casts and shuffles by their inputs."""
    changed = False
    index = GraphIndex(graph)
    for node in index.ops():
        if not _is_noop(node):
            continue
        out, src = node.outputs[0], node.inputs[0]
        is_output = index.is_output(out)
        if is_output and (src.is_input or index.is_output(src)):
            continue  # the copy keeps the output's own name (an output that is an input)
        index.replace_var(out, src)
        if is_output and out.name:
            src.name = out.name  # an inner value becomes the output: it takes the name
        changed = True
    return changed
