"""Building blocks of the ONNX importer: node views, the converter table, run-time ops.

A converter is registered per ONNX op type with :func:`converter`. It reads the node's
attributes and constant inputs (at import time, through the ``ImportContext``) and
returns ``(op, runtime_inputs, outputs)``: ``op`` is a small frozen dataclass
(:class:`OnnxOp`) whose ``__call__(module, *tensors)`` runs the node with
``mge.functional`` calls only. A converter that folds its node entirely (``Constant``,
``Shape``) stores the values in ``ctx.consts`` and returns None. It raises
:class:`Unsupported` with a reason when an attribute combination cannot be imported.

Example:
    >>> import mge
    >>> op = call("clip", lower=0.0, upper=1.0)  # run-time behaviour of a Clip node
    >>> op(None, mge.tensor([-1.0, 0.5, 2.0])).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor

if TYPE_CHECKING:
    from .model import ImportContext

Converted = tuple["OnnxOp", Sequence[str], Sequence[str]] | None
ConverterFn = Callable[["Node", "ImportContext"], Converted]

CONVERTERS: dict[str, ConverterFn] = {}
#: op types of the ``ai.onnx.ml`` domain among the converters (the others are ONNX's own)
ML_OP_TYPES: set[str] = set()
#: op type -> domain, for the converters of mge's own domains (``mge.qdq``)
OP_DOMAINS: dict[str, str] = {}

#: ONNX element types mge computes in: FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64
#: (held as int32, as MegEngine does), BOOL, FLOAT16
SUPPORTED_ELEM_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 9, 10})
SUPPORTED_TYPES_TEXT = "float32, float16, 8 to 64 bit signed and 8/16 bit unsigned integers, bool"


def unsupported_type_reason(what: str, elem_type: int) -> str:
    """Why values of ``elem_type`` are refused (``what`` names the value or the op)."""
    name = elem_type_name(elem_type)
    why = " (no mge backend computes in float64)" if name == "DOUBLE" else ""
    return f"{what} is {name}, which mge does not compute in{why}; " \
           f"supported: {SUPPORTED_TYPES_TEXT}"


def elem_dtype(elem_type: int, what: str) -> np.dtype:
    """The numpy dtype of a supported ONNX element type; ``Unsupported`` (naming
    ``what``) for the others."""
    from onnx.helper import tensor_dtype_to_np_dtype

    if elem_type not in SUPPORTED_ELEM_TYPES:
        raise Unsupported(unsupported_type_reason(what, elem_type))
    return np.dtype(tensor_dtype_to_np_dtype(elem_type))


def elem_type_name(elem_type: int) -> str:
    """The ONNX name of an element type code (``11`` -> ``"DOUBLE"``)."""
    from onnx import TensorProto

    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"element type {elem_type}"


class Unsupported(Exception):  # noqa: N818 - reason for one node, collected by the importer
    """Raised by a converter: this node cannot be imported (the message says why)."""


class NotConstant(Unsupported):
    """Raised by ``ctx.const``: the converter needs the value ``name`` at import time, and
    it is computed at run time (the importer may defer the node, see :mod:`.deferred`)."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


class ConstantLookup:
    """The constants part of a converter context: the values known at import time in
    ``consts`` (name -> array), shared by the import-time and the run-time contexts."""

    consts: dict[str, np.ndarray]

    def is_const(self, name: str) -> bool:
        return name in self.consts

    def traced_shape(self, name: str) -> bool:
        """Whether ``name`` is a run-time value computed from input shapes only, in a call
        that ``jit.trace`` records: a converter may then take it as a Tensor operand (the
        graph keeps computing it, so a dumped ``.mge`` follows the input sizes)."""
        return False

    def const(self, name: str, what: str) -> np.ndarray:
        """The constant value of ``name``; ``NotConstant`` naming ``what`` if not constant."""
        if name not in self.consts:
            raise NotConstant(f"{what} ({name!r}) must be a constant", name)
        return self.consts[name]


def converter(*op_types: str, domain: str = "") -> Callable[[ConverterFn], ConverterFn]:
    """Register a converter for one or more ONNX op types (of ONNX's default domain,
    ``domain="ai.onnx.ml"``, or one of mge's own, ``"mge.qdq"``)."""

    def deco(fn: ConverterFn) -> ConverterFn:
        for op_type in op_types:
            CONVERTERS[op_type] = fn
            if domain == "ai.onnx.ml":
                ML_OP_TYPES.add(op_type)
            elif domain:
                OP_DOMAINS[op_type] = domain
        return fn

    return deco


class Node:
    """A read-only view of an ``onnx.NodeProto`` with decoded attributes."""

    def __init__(self, proto: Any, index: int) -> None:
        from onnx import helper, numpy_helper

        self.op_type: str = proto.op_type
        self.domain: str = proto.domain
        self.index = index
        self.name: str = proto.name or f"{proto.op_type}_{index}"
        self.inputs: list[str] = list(proto.input)
        self.outputs: list[str] = list(proto.output)
        self.attrs: dict[str, Any] = {}
        for attr in proto.attribute:
            value = helper.get_attribute_value(attr)
            if isinstance(value, bytes):
                value = value.decode()
            elif hasattr(value, "dims") and hasattr(value, "data_type"):
                value = numpy_helper.to_array(value)
            self.attrs[attr.name] = value

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def input(self, index: int) -> str:
        """The name of input ``index`` ("" when absent or omitted)."""
        return self.inputs[index] if index < len(self.inputs) else ""

    def reject_attrs(self, **unsupported: Any) -> None:
        """``Unsupported`` if an attribute is set to anything but the given default."""
        for name, default in unsupported.items():
            value = self.attrs.get(name, default)
            if isinstance(value, (list, tuple)) and not isinstance(default, (list, tuple)):
                bad = any(v != default for v in value)
            else:
                bad = value != default
            if bad:
                raise Unsupported(f"attribute {name}={value!r} is not supported")


def static_ints(node: Node, ctx: ImportContext, attr: str, index: int, what: str) -> Any:
    """An int-list parameter given as attribute ``attr`` (older opsets) or as constant
    input ``index`` (newer ones); None when absent in both."""
    if attr in node.attrs:
        return [int(v) for v in node.attrs[attr]]
    name = node.input(index)
    if not name:
        return None
    return [int(v) for v in np.asarray(ctx.const(name, what)).reshape(-1)]


def float_input(node: Node, ctx: Any) -> None:
    """``Unsupported`` when the input is known not to be float32/float16 (MegEngine's
    pooling and convolution kernels are float)."""
    dtype = ctx.dtypes.get(node.input(0))
    if dtype is not None and dtype.kind != "f":
        raise Unsupported(f"{node.op_type} of {dtype} input {node.input(0)!r} (mge pools "
                          "and convolves float32/float16 only)")


def normalize_axis(axis: int, ndim: int) -> int:
    """Python-style axis into ``0..ndim-1`` (the op's F function checks the range)."""
    return axis + ndim if axis < 0 else axis


def functional(path: str) -> Callable:
    """``mge.functional`` function by dotted path (``"nn.conv2d"``)."""
    return functools.reduce(getattr, path.split("."), F)


class OnnxOp:
    """A converted node's run-time behaviour: ``op(module, *inputs) -> Tensor | tuple``."""

    def __call__(self, mod: Any, *inputs: Tensor) -> Any:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Call(OnnxOp):
    """``F.<fn>(*inputs, **kwargs)`` (``fn`` is a dotted path inside ``mge.functional``)."""

    fn: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __call__(self, mod: Any, *inputs: Tensor) -> Any:
        return functional(self.fn)(*inputs, **dict(self.kwargs))


def call(fn: str, **kwargs: Any) -> Call:
    """A :class:`Call` op with keyword arguments (stored hashable)."""
    return Call(fn, tuple(sorted(kwargs.items())))


@dataclasses.dataclass(frozen=True)
class Identity(OnnxOp):
    """Passes its input through (Identity, inference-mode Dropout)."""

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return x


@dataclasses.dataclass(frozen=True)
class Chain(OnnxOp):
    """Binary ``F.<fn>`` folded over all inputs (variadic Sum/Max/Min)."""

    fn: str

    def __call__(self, mod: Any, *inputs: Tensor) -> Tensor:
        return functools.reduce(functional(self.fn), inputs)


__all__ = [
    "CONVERTERS",
    "ML_OP_TYPES",
    "OP_DOMAINS",
    "SUPPORTED_ELEM_TYPES",

    "Call",
    "Chain",
    "Identity",
    "Node",
    "NotConstant",
    "OnnxOp",
    "Unsupported",
    "call",
    "converter",
    "elem_dtype",
    "elem_type_name",
    "float_input",
    "functional",
    "normalize_axis",
    "static_ints",
    "unsupported_type_reason",
]
