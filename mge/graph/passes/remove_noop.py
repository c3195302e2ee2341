"""``remove_noop``: drop ops that return their input unchanged.

``Reshape``/``Broadcast`` to the input's own shape, ``TypeCvt`` to its own dtype, an
identity ``Dimshuffle``, an empty ``AxisAddRemove`` and ``Subtensor`` without items
are replaced by their input (MegEngine's ``RemoveNonComputingOprPass``).

Example:
    >>> run_passes(graph, ["remove_noop"])   # doctest: +SKIP
"""

from __future__ import annotations

from ..ir import Graph, OpNode
from .registry import register_pass

_SHAPE_ONLY = ("Reshape", "Broadcast", "AxisAddRemove", "Subtensor")


def _is_noop(node: OpNode) -> bool:
    if len(node.inputs) != 1 or len(node.outputs) != 1:
        return False
    x, y = node.inputs[0], node.outputs[0]
    if (x.shape, x.dtype) != (y.shape, y.dtype):
        return False
    params = node.op.params()
    if node.type in _SHAPE_ONLY:
        return node.type != "Subtensor" or not params["items"]
    if node.type == "TypeCvt":
        return True
    if node.type == "Dimshuffle":
        return tuple(params["pattern"]) == tuple(range(x.ndim))
    return False


@register_pass("remove_noop")
def remove_noop(graph: Graph) -> bool:
    """Replace no-op reshapes, casts and shuffles by their inputs."""
    changed = False
    for node in graph.ops():
        if _is_noop(node):
            out, src = node.outputs[0], node.inputs[0]
            graph.replace_var(out, src)
            if out.name and not src.name and src in graph.outputs:
                src.name = out.name
            changed = True
    return changed
