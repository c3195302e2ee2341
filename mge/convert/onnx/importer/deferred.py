"""Nodes whose steering operands are computed at run time (a ``Reshape`` shape from a
``Shape``/``Gather``/``Concat`` chain over a dynamic batch, ``Slice`` bounds, ``Tile``
repeats, a ``Conv`` weight fed as a graph input ...).

A converter reads such operands with ``ctx.const`` at import time; when one is a run-time
value the importer keeps the node as a :class:`Deferred` step instead. Each run converts the
node again with the same converter, the operands it asks for now constants taken from the
current values, and runs the converted op on the remaining inputs: the node computes exactly
what it computes when the operands are constants.

Under ``mge.jit.trace`` (``.mge`` export, ``from_onnx(trace=True)``) the converted op is
recorded with the operand values of the traced call, except where the converter takes an
operand computed from shapes only (``Shape`` chains) as a Tensor (``Reshape``, see
``ConstantLookup.traced_shape``): the graph then computes it from ``GetVarShape`` and
follows the input sizes. An operand computed from tensor values is refused (it would be
frozen into the graph as a constant).

Example:
    >>> import onnx, mge
    >>> from onnx import helper, TensorProto
    >>> g = helper.make_graph(
    ...     [helper.make_node("Reshape", ["x", "s"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
    ...      helper.make_tensor_value_info("s", TensorProto.INT64, [2])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    >>> from mge.convert import from_onnx
    >>> net = from_onnx(helper.make_model(g), trace=False)
    >>> net(mge.tensor(np.zeros((2, 3))), mge.tensor([3, 2])).shape
    (3, 2)
"""

from __future__ import annotations

import dataclasses
import itertools
import types
from typing import Any

import numpy as np

from ....core.apply import observing
from ....tensor import Tensor
from .node import CONVERTERS, ConstantLookup, Node, NotConstant, OnnxOp, Unsupported


class RuntimeContext(ConstantLookup):
    """The converter context of one run of a deferred node: the node's import-time
    constants plus the run-time operands the converter asked for, and the shapes and dtypes
    of the run-time inputs."""

    def __init__(self, op: Deferred, values: dict[str, Tensor]) -> None:
        self.opset = op.opset
        self.used = op.used
        self.consts: dict[str, np.ndarray] = dict(op.consts)
        self.shapes = {name: tuple(v.shape) for name, v in values.items()}
        self.from_shapes = {n for n in values if n not in op.from_data} if observing() else set()
        self.dtypes = {name: np.dtype(v.dtype) for name, v in values.items()}
        self.module = types.SimpleNamespace()  # holds what converters store as attributes
        self.new_attrs: list[str] = []
        self._names = (f"value_{k}" for k in itertools.count())

    def traced_shape(self, name: str) -> bool:
        return name in self.from_shapes and name not in self.consts

    def static_shape(self, name: str) -> tuple[int, ...] | None:
        if name in self.consts:
            return tuple(self.consts[name].shape)
        return self.shapes.get(name)

    def attribute(self, onnx_name: str, value: np.ndarray, kind: str = "param") -> str:
        attr = next(self._names)
        setattr(self.module, attr, Tensor(np.array(value, order="C")))
        return attr

    def forget_attribute(self, attr: str) -> None:
        delattr(self.module, attr)


@dataclasses.dataclass(frozen=True, eq=False)
class Deferred(OnnxOp):
    """A node converted on every run, with its run-time operands as constants.

    ``inputs`` names the run-time inputs the step passes (in order); ``consts`` holds the
    node's inputs that were constant at import; ``from_data`` names the run-time inputs
    computed from tensor values rather than from shapes only.
    """

    node: Node
    opset: int
    used: frozenset[str]
    inputs: tuple[str, ...]
    consts: tuple[tuple[str, np.ndarray], ...]
    from_data: frozenset[str]

    def __call__(self, mod: Any, *tensors: Tensor) -> tuple[Tensor | None, ...]:
        values = dict(zip(self.inputs, tensors))
        ctx = RuntimeContext(self, values)
        converted = self._convert(ctx, values)
        where = f"ONNX node {self.node.op_type} {self.node.name!r}"
        if converted is None:  # folded entirely (ConstantOfShape, Shape ...)
            produced = {o: Tensor(ctx.consts[o]) for o in self.node.outputs if o in ctx.consts}
        else:
            op, inputs, outputs = converted
            args = [values[i] if i in values else Tensor(ctx.consts[i]) for i in inputs]
            out = op(ctx.module, *args)
            produced = dict(zip(outputs, out if isinstance(out, tuple) else (out,)))
        missing = [o for o in self.outputs if o not in produced and o in self.used]
        if missing:
            raise ValueError(f"{where}: outputs {missing} are not computed with these operands")
        return tuple(produced.get(o) for o in self.outputs)

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(o for o in self.node.outputs if o)

    def _convert(self, ctx: RuntimeContext, values: dict[str, Tensor]) -> Any:
        where = f"ONNX node {self.node.op_type} {self.node.name!r}"
        while True:
            try:
                return CONVERTERS[self.node.op_type](self.node, ctx)
            except NotConstant as exc:
                if exc.name not in values:
                    raise ValueError(f"{where}: {exc}") from None
                if observing() and exc.name in self.from_data:
                    raise ValueError(
                        f"{where}: operand {exc.name!r} is computed from tensor values at "
                        "run time; a traced graph (.mge, from_onnx(trace=True)) would freeze "
                        "it as a constant, so only eager import (trace=False) runs this node"
                    ) from None
                ctx.consts[exc.name] = values[exc.name].numpy()
            except Unsupported as exc:
                raise ValueError(f"{where}: {exc}") from None


def defer(node: Node, ctx: Any, runtime: set[str], data_derived: set[str]) -> Deferred:
    """The :class:`Deferred` step op of ``node`` (its run-time inputs are ``runtime``)."""
    names = [i for i in node.inputs if i]
    inputs = tuple(dict.fromkeys(i for i in names if i in runtime))
    consts = tuple((i, ctx.consts[i]) for i in dict.fromkeys(names) if ctx.is_const(i))
    return Deferred(node, ctx.opset, frozenset(ctx.used), inputs, consts,
                    frozenset(i for i in inputs if i in data_derived))


__all__ = ["Deferred", "RuntimeContext", "defer"]
