"""``float16`` / ``float16_io``: run a float32 graph in float16 (``enable_ioc16`` /
``enable_io16xc32``).

Like MegEngine's ``ConvertF32ToF16Pass``: float32 inputs stay float32 and are followed
by a ``TypeCvt`` to float16; float32 constants become float16 constants; ops are
rebuilt on float16 inputs by their own ``in_float16`` rule (``TypeCvt`` to float32
becomes one to float16; inputs an op lists in ``float32_inputs``, such as
WarpPerspective's matrix, stay float32); float32 outputs get a final ``TypeCvt`` back
to float32. ``float16_io`` asks ops to keep float32 compute where they have a param for
it (``compute_mode=FLOAT32`` on convolutions and matrix products,
``data_type=FLOAT_O16xC32`` on float reductions). An op that has no float16 form
computes in float32 between casts.

Example:
    >>> run_passes(graph, ["float16_io"])   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ...core.opdef import OpDef, OpError, TensorInfo
from ...ops import TypeCvt
from ..ir import ConstOp, Graph, Host2DeviceCopy, OpNode, VarNode
from .registry import register_pass

F32, F16 = np.dtype("float32"), np.dtype("float16")


class _Converter:
    def __init__(self, graph: Graph, compute_f32: bool) -> None:
        self.graph = graph
        self.compute_f32 = compute_f32
        self.casts: dict[int, VarNode] = {}  # our float16 var's id -> its float32 source
        self.new: dict[int, VarNode] = {}  # old var id -> its float16 replacement

    def cast(self, var: VarNode, dtype: np.dtype) -> VarNode:
        if var.dtype == dtype:
            return var
        source = self.casts.get(var.id)
        if source is not None and source.dtype == dtype:
            return source  # undo a cast this pass made
        (out,) = self.graph.add_op(TypeCvt(dtype=str(dtype)), [var])
        self.casts[out.id] = var
        return out

    def half_op(self, node: OpNode, inputs: list[VarNode]) -> OpDef:
        return node.op.in_float16([TensorInfo(v.shape, v.dtype) for v in inputs],
                                  self.compute_f32)

    def op(self, node: OpNode) -> list[VarNode]:
        if isinstance(node.op, Host2DeviceCopy):
            return [self.cast(node.outputs[0], F16) if node.outputs[0].dtype == F32
                    else node.outputs[0]]
        if isinstance(node.op, ConstOp):
            var = node.outputs[0]
            if var.dtype != F32:
                return [var]
            half = self.graph.add_const(var.value.astype(F16))
            self.casts[half.id] = var  # an op that needs float32 takes the original
            return [half]
        inputs = [self.new[v.id] for v in node.inputs]
        for k in node.op.float32_inputs:
            inputs[k] = self.cast(inputs[k], F32)
        try:
            outs = self.graph.add_op(self.half_op(node, inputs), inputs, name=node.name)
        except OpError:  # no float16 form: compute as before, between casts
            orig = [self.cast(v, old.dtype) for v, old in zip(inputs, node.inputs, strict=True)]
            outs = self.graph.add_op(node.op, orig, name=node.name)
        return [self.cast(v, F16) if v.dtype == F32 else v for v in outs]

    def run(self) -> bool:
        graph = self.graph
        if not any(v.dtype == F32 for v in graph.vars()):
            return False
        for node in graph.ops():
            for old, var in zip(node.outputs, self.op(node), strict=True):
                if var is not old and old.name and not var.name:
                    var.name = old.name
                self.new[old.id] = var
        outputs = []
        for old in graph.outputs:
            var = self.cast(self.new[old.id], old.dtype)
            if var is not old:
                var.name = old.name
            outputs.append(var)
        graph.outputs = outputs
        return True


@register_pass("float16_io")
def float16_io(graph: Graph) -> bool:
    """float16 tensors, float32 computation (MegEngine's ``enable_io16xc32``)."""
    return _Converter(graph, compute_f32=True).run()


@register_pass("float16")
def float16(graph: Graph) -> bool:
    """float16 tensors and computation (MegEngine's ``enable_ioc16``)."""
    return _Converter(graph, compute_f32=False).run()
