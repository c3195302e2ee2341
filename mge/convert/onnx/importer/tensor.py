"""ONNX converters for elementwise, shape and constant ops (see :mod:`.node`).

Shape arithmetic on static shapes (``Shape``, ``Gather``, ``Unsqueeze``, ``Concat`` ...
chains) folds at import time: the importer runs a node whose inputs are all constants
once, eagerly, through the same ops, and keeps the results as constants.

Example:
    >>> import mge
    >>> Flatten(axis=2)(None, mge.tensor(np.zeros((2, 3, 4, 5)))).shape
    (6, 20)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np

from .... import functional as F
from ....core.apply import apply, observing
from ....core.tracing import cover_value_reads
from ....ops.shape import GetVarShape
from ....tensor import Tensor
from .indexing import gather_indices
from .node import (
    Call,
    Chain,
    Converted,
    Identity,
    Node,
    OnnxOp,
    Unsupported,
    call,
    converter,
    elem_dtype,
    normalize_axis,
    static_ints,
)

#: the op names this module's strings speak: ONNX's (``converter("Reshape")`` converts an
#: ONNX node), not mge's registered op types (``tests/ops/test_op_homes.py`` checks each)
OP_VOCABULARY = "onnx"

_UNARY = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "HardSwish": "hswish",
    "Tanh": "tanh",
    "Exp": "exp",
    "Log": "log",
    "Sqrt": "sqrt",
    "Abs": "abs",
    "Neg": "neg",
    "Floor": "floor",
    "Ceil": "ceil",
    "Erf": "erf",
    "Softplus": "softplus",
}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul"}
_VARIADIC = {"Sum": "add", "Max": "maximum", "Min": "minimum"}


@converter(*_UNARY)
def _unary(node: Node, ctx: Any) -> Converted:
    return Call(_UNARY[node.op_type]), node.inputs[:1], node.outputs[:1]


@converter(*_BINARY)
def _binary(node: Node, ctx: Any) -> Converted:
    if "axis" in node.attrs:
        raise Unsupported("legacy broadcasting with an axis attribute is not supported")
    return Call(_BINARY[node.op_type]), node.inputs[:2], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Div(OnnxOp):
    """ONNX Div: true division of floats; integers divide toward zero, as in C
    (``-7 / 2 == -3``), which is ``sign(a) * sign(b) * (|a| // |b|)``."""

    def __call__(self, mod: Any, a: Tensor, b: Tensor) -> Tensor:
        if np.dtype(a.dtype).kind not in "iu":
            return F.div(a, b)
        return F.mul(F.mul(F.sign(a), F.sign(b)), F.floor_div(F.abs(a), F.abs(b)))


@dataclasses.dataclass(frozen=True)
class Pow(OnnxOp):
    """ONNX Pow: the result has the base's type. An integer base is raised in float32 and
    converted back, rounded for integer exponents (exact powers) and truncated otherwise,
    as ``np.power(x, y).astype(x.dtype)`` does."""

    def __call__(self, mod: Any, x: Tensor, y: Tensor) -> Tensor:
        if np.dtype(x.dtype).kind not in "iu":
            return F.pow(x, F.astype(y, x.dtype))
        power = F.pow(F.astype(x, "float32"), F.astype(y, "float32"))
        if np.dtype(y.dtype).kind in "iu":
            power = F.round(power)
        return F.astype(power, x.dtype)


@converter("Pow")
def _pow(node: Node, ctx: Any) -> Converted:
    return Pow(), node.inputs[:2], node.outputs[:1]


@converter("Div")
def _div(node: Node, ctx: Any) -> Converted:
    if "axis" in node.attrs:
        raise Unsupported("legacy broadcasting with an axis attribute is not supported")
    return Div(), node.inputs[:2], node.outputs[:1]


@converter(*_VARIADIC)
def _variadic(node: Node, ctx: Any) -> Converted:
    inputs = [i for i in node.inputs if i]
    op: OnnxOp = Chain(_VARIADIC[node.op_type]) if len(inputs) > 1 else Identity()
    return op, inputs, node.outputs[:1]


@converter("LeakyRelu")
def _leaky_relu(node: Node, ctx: Any) -> Converted:
    op = call("leaky_relu", negative_slope=float(node.attr("alpha", 0.01)))
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class HardSigmoid(OnnxOp):
    """``clip(alpha * x + beta, 0, 1)`` (``F.hsigmoid`` for the default 1/6, 1/2)."""

    alpha: float
    beta: float

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return F.clip(F.add(F.mul(x, self.alpha), self.beta), 0.0, 1.0)


@converter("HardSigmoid")
def _hard_sigmoid(node: Node, ctx: Any) -> Converted:
    alpha, beta = float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5))
    is_default = np.isclose([alpha, beta], [1 / 6, 0.5]).all()
    op: OnnxOp = Call("hsigmoid") if is_default else HardSigmoid(alpha, beta)
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class ClipTensor(OnnxOp):
    """Clip with run-time bounds: ``minimum(maximum(x, lower), upper)`` (absent: None)."""

    has_lower: bool
    has_upper: bool

    def __call__(self, mod: Any, x: Tensor, *bounds: Tensor) -> Tensor:
        rest = list(bounds)
        if self.has_lower:
            x = F.maximum(x, rest.pop(0))
        return F.minimum(x, rest.pop(0)) if self.has_upper else x


@converter("Clip")
def _clip(node: Node, ctx: Any) -> Converted:
    bound_names = [node.input(1), node.input(2)]
    if ctx.opset >= 11 and not all(ctx.is_const(b) for b in bound_names if b):
        op = ClipTensor(bool(bound_names[0]), bool(bound_names[1]))
        return op, [node.input(0), *(b for b in bound_names if b)], node.outputs[:1]
    if ctx.opset < 11:
        lower, upper = node.attr("min"), node.attr("max")
    else:
        bounds = [node.input(1), node.input(2)]
        lower, upper = (
            float(np.asarray(ctx.const(b, f"Clip {w}")).reshape(())) if b else None
            for b, w in zip(bounds, ("min", "max"))
        )
    if lower is None and upper is None:
        return Identity(), node.inputs[:1], node.outputs[:1]
    return ClipValues(lower, upper), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class ClipValues(OnnxOp):
    """Clip to constant bounds (None: open), given in the input's type: ``relu6``/``relu``
    for float ``[0, 6]``/``[0, inf)``."""

    lower: float | None
    upper: float | None

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        if np.dtype(x.dtype).kind == "f":
            if (self.lower, self.upper) == (0.0, 6.0):
                return F.relu6(x)
            if (self.lower, self.upper) == (0.0, None):
                return F.relu(x)
            return F.clip(x, self.lower, self.upper)
        lower, upper = (None if b is None else int(b) for b in (self.lower, self.upper))
        return F.clip(x, lower, upper)


@converter("Identity")
def _identity(node: Node, ctx: Any) -> Converted:
    return Identity(), node.inputs[:1], node.outputs[:1]


@converter("Dropout")
def _dropout(node: Node, ctx: Any) -> Converted:
    """Inference Dropout is the identity (its mask all true); training mode (random drops)
    is refused."""
    if ctx.opset < 7 and not node.attr("is_test", 0):
        raise Unsupported("Dropout with is_test=0 drops at random (training mode)")
    if node.input(2):
        training = np.asarray(ctx.const(node.input(2), "Dropout training_mode"))
        ratio = np.asarray(ctx.const(node.input(1), "Dropout ratio")) if node.input(1) \
            else np.float32(0.5)
        if bool(training.reshape(-1)[0]) and float(ratio.reshape(-1)[0]) != 0.0:
            raise Unsupported("Dropout with training_mode=True drops at random; only "
                              "inference (training_mode=False) is supported")
    if len(node.outputs) > 1 and node.outputs[1] in ctx.used:
        return KeepAll(), node.inputs[:1], node.outputs[:2]
    return Identity(), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class KeepAll(OnnxOp):
    """A Dropout that drops nothing: the input and an all-true mask."""

    def __call__(self, mod: Any, x: Tensor) -> tuple[Tensor, Tensor]:
        return x, F.astype(F.ones_like(x), "bool")


# ------------------------------------------------------------------ constants
@converter("Constant")
def _constant(node: Node, ctx: Any) -> Converted:
    attrs = node.attrs
    if "value" in attrs:
        value = attrs["value"]
    elif "value_float" in attrs or "value_floats" in attrs:
        value = np.asarray(attrs.get("value_float", attrs.get("value_floats")), np.float32)
    elif "value_int" in attrs or "value_ints" in attrs:
        value = np.asarray(attrs.get("value_int", attrs.get("value_ints")), np.int64)
    else:
        raise Unsupported(f"Constant with attribute(s) {sorted(attrs)} is not supported")
    ctx.consts[node.outputs[0]] = np.asarray(value)
    return None


@converter("ConstantOfShape")
def _constant_of_shape(node: Node, ctx: Any) -> Converted:
    shape = [int(d) for d in ctx.const(node.input(0), "ConstantOfShape shape")]
    value = node.attr("value", np.zeros(1, np.float32))
    ctx.consts[node.outputs[0]] = np.full(shape, value.reshape(()), dtype=value.dtype)
    return None


@dataclasses.dataclass(frozen=True)
class RuntimeShape(OnnxOp):
    """ONNX Shape of a value whose shape is known at run time only: ``shape[start:end]``
    as an integer tensor; in a traced call, read by ``GetVarShape`` (the graph follows the
    input sizes)."""

    start: int
    end: int | None

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        if observing() and x.ndim:
            shape = apply(GetVarShape(), x)[0]
            return shape if (self.start, self.end) == (0, None) else \
                shape[self.start:self.end]
        return Tensor(np.asarray(tuple(x.shape)[self.start:self.end], dtype=np.int64))


@converter("Shape")
def _shape(node: Node, ctx: Any) -> Converted:
    start, end = int(node.attr("start", 0)), node.attr("end")
    end = None if end is None else int(end)
    shape = ctx.static_shape(node.input(0))
    if shape is None:
        return RuntimeShape(start, end), node.inputs[:1], node.outputs[:1]
    ctx.consts[node.outputs[0]] = np.asarray(shape[start:end], dtype=np.int64)
    return None


@converter("Cast")
def _cast(node: Node, ctx: Any) -> Converted:
    dtype = elem_dtype(int(node.attr("to")), "the target type")
    return call("astype", dtype=dtype.name), node.inputs[:1], node.outputs[:1]


# ------------------------------------------------------------------ shapes
@dataclasses.dataclass(frozen=True)
class Reshape(OnnxOp):
    """``F.reshape`` with ONNX's 0 ("copy this dimension") resolved from the input."""

    shape: tuple[int, ...]
    allowzero: bool

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        target = self.shape
        if not self.allowzero:
            target = tuple(x.shape[i] if d == 0 else d for i, d in enumerate(target))
        return F.reshape(x, target)


@dataclasses.dataclass(frozen=True)
class ShapeInputReshape(OnnxOp):
    """``F.reshape`` to a target Tensor computed from shapes in a traced call: the traced
    ``Reshape`` keeps it as its shape input; ONNX's 0 entries read the input's dims."""

    allowzero: bool

    def __call__(self, mod: Any, x: Tensor, shape: Tensor) -> Tensor:
        values = shape.numpy().reshape(-1)
        if self.allowzero or not (values == 0).any():
            # the read only decided that no entry is ONNX's 0 ("copy this dim"): the
            # Reshape follows the Tensor itself, so a dump bakes (and guards) nothing
            cover_value_reads([shape])
            return F.reshape(x, shape)
        dims = apply(GetVarShape(), x)[0]
        return F.reshape(x, [dims[i] if d == 0 else shape[i] for i, d in enumerate(values)])


@converter("Reshape")
def _reshape(node: Node, ctx: Any) -> Converted:
    if ctx.opset >= 5 and ctx.traced_shape(node.input(1)):
        op = ShapeInputReshape(bool(node.attr("allowzero", 0)))
        return op, node.inputs[:2], node.outputs[:1]
    if ctx.opset < 5:
        shape = node.attr("shape")
    else:
        shape = ctx.const(node.input(1), "Reshape shape").reshape(-1)
    op = Reshape(tuple(int(d) for d in shape), bool(node.attr("allowzero", 0)))
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Flatten(OnnxOp):
    """ONNX Flatten: 2-d ``[prod(shape[:axis]), prod(shape[axis:])]``."""

    axis: int

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        axis = normalize_axis(self.axis, x.ndim)
        return F.reshape(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))


@converter("Flatten")
def _flatten(node: Node, ctx: Any) -> Converted:
    return Flatten(int(node.attr("axis", 1))), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Transpose(OnnxOp):
    """``F.transpose``; no permutation reverses the axes."""

    perm: tuple[int, ...] | None

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        perm = self.perm if self.perm is not None else tuple(reversed(range(x.ndim)))
        return F.transpose(x, perm)


@converter("Transpose")
def _transpose(node: Node, ctx: Any) -> Converted:
    perm = node.attr("perm")
    return Transpose(None if perm is None else tuple(perm)), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class ExpandDims(OnnxOp):
    """ONNX Unsqueeze: ``F.expand_dims`` at positions of the output."""

    axes: tuple[int, ...]

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        ndim = x.ndim + len(self.axes)
        return F.expand_dims(x, sorted(normalize_axis(a, ndim) for a in self.axes))


@converter("Unsqueeze")
def _unsqueeze(node: Node, ctx: Any) -> Converted:
    axes = static_ints(node, ctx, "axes", 1, "Unsqueeze axes")
    if not axes:
        raise Unsupported("Unsqueeze needs axes")
    return ExpandDims(tuple(axes)), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Squeeze(OnnxOp):
    """``F.squeeze`` of the given axes (all size-1 axes when None)."""

    axes: tuple[int, ...] | None

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        if self.axes is None:
            return F.squeeze(x)
        return F.squeeze(x, [normalize_axis(a, x.ndim) for a in self.axes])


@converter("Squeeze")
def _squeeze(node: Node, ctx: Any) -> Converted:
    axes = static_ints(node, ctx, "axes", 1, "Squeeze axes")
    return Squeeze(None if axes is None else tuple(axes)), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Concat(OnnxOp):
    """``F.concat`` of all inputs along ``axis``."""

    axis: int

    def __call__(self, mod: Any, *xs: Tensor) -> Tensor:
        return F.concat(list(xs), axis=normalize_axis(self.axis, xs[0].ndim))


@converter("Concat")
def _concat(node: Node, ctx: Any) -> Converted:
    return Concat(int(node.attr("axis"))), [i for i in node.inputs if i], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Split(OnnxOp):
    """``F.split`` into ``sizes`` (None: ``parts`` near-equal parts, the last smaller)."""

    axis: int
    sizes: tuple[int, ...] | None
    parts: int

    def __call__(self, mod: Any, x: Tensor) -> tuple[Tensor, ...]:
        axis = normalize_axis(self.axis, x.ndim)
        sizes = self.sizes
        if sizes is None:
            chunk = -(-x.shape[axis] // self.parts)
            sizes = tuple(min(chunk, x.shape[axis] - k * chunk) for k in range(self.parts))
        if len(sizes) == 1:
            return (x,)
        points = list(itertools.accumulate(sizes[:-1]))
        return tuple(F.split(x, points, axis=axis))


@converter("Split")
def _split(node: Node, ctx: Any) -> Converted:
    sizes = static_ints(node, ctx, "split", 1, "Split sizes")
    parts = int(node.attr("num_outputs", len(node.outputs)))
    op = Split(int(node.attr("axis", 0)), None if sizes is None else tuple(sizes), parts)
    return op, node.inputs[:1], node.outputs


@dataclasses.dataclass(frozen=True)
class Slice(OnnxOp):
    """ONNX Slice as Tensor indexing (bounds clamped like ONNX/Python slices)."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    axes: tuple[int, ...]
    steps: tuple[int, ...]

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        index: list[Any] = [slice(None)] * x.ndim
        for start, end, axis, step in zip(self.starts, self.ends, self.axes, self.steps):
            axis = normalize_axis(axis, x.ndim)
            begin, stop, step = slice(start, end, step).indices(x.shape[axis])
            index[axis] = slice(begin, None if stop < 0 else stop, step)
        return x[tuple(index)]


@converter("Slice")
def _slice(node: Node, ctx: Any) -> Converted:
    starts = static_ints(node, ctx, "starts", 1, "Slice starts")
    ends = static_ints(node, ctx, "ends", 2, "Slice ends")
    axes = static_ints(node, ctx, "axes", 3, "Slice axes") or list(range(len(starts)))
    steps = static_ints(node, ctx, "steps", 4, "Slice steps") or [1] * len(starts)
    if 0 in steps:
        raise Unsupported("Slice step 0")
    op = Slice(tuple(starts), tuple(ends), tuple(axes), tuple(steps))
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Gather(OnnxOp):
    """ONNX Gather with constant indices (a scalar drops the axis), as Tensor indexing."""

    axis: int
    indices: int | tuple[int, ...]

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        axis = normalize_axis(self.axis, x.ndim)
        size = x.shape[axis]
        if isinstance(self.indices, int):
            picked: Any = self.indices % size
        else:
            picked = [i % size for i in self.indices]
        return x[(slice(None),) * axis + (picked,)]


@converter("Gather")
def _gather(node: Node, ctx: Any) -> Converted:
    if not ctx.is_const(node.input(1)) or np.ndim(ctx.consts[node.input(1)]) > 1:
        return gather_indices(node, ctx)
    indices = np.asarray(ctx.consts[node.input(1)])
    picked = int(indices) if indices.ndim == 0 else tuple(int(i) for i in indices)
    return Gather(int(node.attr("axis", 0)), picked), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Expand(OnnxOp):
    """ONNX Expand: ``F.broadcast_to`` the two-way broadcast of input and target shapes."""

    shape: tuple[int, ...]

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return F.broadcast_to(x, np.broadcast_shapes(tuple(x.shape), self.shape))


@converter("Expand")
def _expand(node: Node, ctx: Any) -> Converted:
    shape = tuple(int(d) for d in ctx.const(node.input(1), "Expand shape"))
    return Expand(shape), node.inputs[:1], node.outputs[:1]


@converter("Tile")
def _tile(node: Node, ctx: Any) -> Converted:
    reps = [int(r) for r in ctx.const(node.input(1), "Tile repeats")]
    return call("tile", reps=tuple(reps)), node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
