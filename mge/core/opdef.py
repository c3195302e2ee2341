"""The op vocabulary: ``OpDef`` subclasses registered by MegEngine operator type name.

Every computation in mge is an ``OpDef``: a frozen dataclass whose fields are the
MegEngine param fields (same names, same defaults, enums as their MegEngine member
names), plus an ``infer`` rule giving output shapes and dtypes from input shapes and
dtypes. Eager execution runs a backend kernel for it, tracing records it, the ``.mge``
writer serializes it, and the runtime replays it.

Example:
    >>> from mge.ops import Elemwise
    >>> op = Elemwise(mode="ADD")
    >>> op.infer([TensorInfo((2, 3), np.dtype("float32")), TensorInfo((3,), np.dtype("float32"))])
    [TensorInfo(shape=(2, 3), dtype=dtype('float32'), value=None)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np

REGISTRY: dict[str, type[OpDef]] = {}


class OpError(ValueError):
    """Invalid inputs or params for an op; the message names the op and the shapes."""


class TensorInfo(NamedTuple):
    """What ``infer`` knows about a tensor: its shape, dtype and, for constants, its value."""

    shape: tuple[int, ...]
    dtype: np.dtype
    value: np.ndarray | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}{list(self.shape)}"


@dataclasses.dataclass(frozen=True)
class OpDef:
    """Base class of all ops. Subclasses are frozen dataclasses of MegEngine params.

    Class attributes:
        type_name: MegEngine operator type name (``ConvolutionForward``, ``Elemwise``...).
        version: op version, stored in serialized graphs.
        nr_inputs: accepted input counts (``None``: any number).
    """

    type_name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    nr_inputs: ClassVar[tuple[int, ...] | None] = None

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        """Output infos from input infos; raises ``OpError`` on invalid input."""
        raise NotImplementedError(f"{self.type_name}.infer")

    def check_inputs(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        """Validate the input count, then run ``infer``."""
        if self.nr_inputs is not None and len(inputs) not in self.nr_inputs:
            want = " or ".join(map(str, self.nr_inputs))
            self.fail(f"expects {want} inputs, got {len(inputs)}", inputs)
        return self.infer(inputs)

    def params(self) -> dict[str, Any]:
        """The op's params as a plain dict (MegEngine field names)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def fail(self, message: str, inputs: Sequence[TensorInfo] = ()) -> None:
        """Raise an ``OpError`` naming this op, its params and the input shapes."""
        shapes = ", ".join(str(i) for i in inputs)
        where = f" (inputs: {shapes})" if inputs else ""
        raise OpError(f"{self}: {message}{where}")

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{self.type_name}({args})"


def register_op(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator: make ``cls`` a frozen dataclass and register it by ``type_name``."""
    if not dataclasses.is_dataclass(cls) or "__dataclass_fields__" not in cls.__dict__:
        cls = dataclasses.dataclass(frozen=True)(cls)
    name = cls.type_name
    if not name:
        raise TypeError(f"{cls.__name__} has no type_name")
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise TypeError(f"op {name} registered twice ({REGISTRY[name].__name__}, {cls.__name__})")
    REGISTRY[name] = cls
    return cls


def get_op_class(type_name: str) -> type[OpDef]:
    """Look up a registered op class; raises ``KeyError`` naming the op if unknown."""
    try:
        return REGISTRY[type_name]
    except KeyError:
        raise KeyError(f"unknown operator type {type_name!r}") from None


def check_enum(op: OpDef, field: str, allowed: Sequence[str]) -> None:
    """Reject an enum-valued param that is not one of MegEngine's member names."""
    value = getattr(op, field)
    if value not in allowed:
        op.fail(f"unknown {field} {value!r}; expected one of {', '.join(allowed)}")


def broadcast_shapes(op: OpDef, inputs: Sequence[TensorInfo]) -> tuple[int, ...]:
    """numpy broadcasting of the inputs' shapes; ``OpError`` if they do not broadcast."""
    ndim = max((len(i.shape) for i in inputs), default=0)
    out = [1] * ndim
    for info in inputs:
        for k, d in enumerate(info.shape):
            axis = ndim - len(info.shape) + k
            cur = out[axis]
            if cur == d or d == 1:
                continue
            if cur == 1:
                out[axis] = d
            else:
                op.fail("shapes do not broadcast", inputs)
    return tuple(out)


def normalize_axis(op: OpDef, axis: int, ndim: int, inputs: Sequence[TensorInfo] = ()) -> int:
    """Turn a possibly negative axis into 0..ndim-1, ``OpError`` if out of range."""
    if not -ndim <= axis < ndim:
        op.fail(f"axis {axis} out of range for a {ndim}-d tensor", inputs)
    return axis % ndim
