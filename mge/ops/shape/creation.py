"""Creation ops: Fill, Linspace, Eye (their static values are params; ``.mge`` files hold
their results as constants, unless a traced size is an input var, as MegEngine's).

Example:
    >>> Fill(shape=(2, 3), value=1.0).infer([])[0].shape
    (2, 3)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ...core.opdef import (
    Memory,
    MgeForm,
    NoMgeForm,
    OpDef,
    TensorInfo,
    register_op,
)
from ...dtype import canonical_dtype
from .shape import (
    StaticParamsOp,
    check_shape_param,
    numel,
    resolved,
    shape_from_source,
)

#: creation ops have no serializer: the .mge writer stores their values as constants
CREATED_AS_VALUE = NoMgeForm("a creation op: .mge files hold its value as a constant")


@dataclasses.dataclass(frozen=True)
class CreationOp(StaticParamsOp):
    """Base of input-less ops that create a tensor of a static shape and ``dtype``."""

    nr_inputs = (0,)
    dtype: str = "float32"

    def out_dtype(self) -> np.dtype:
        try:
            return canonical_dtype(self.dtype)
        except TypeError as exc:
            self.fail(str(exc))
            raise


@register_op
class Fill(CreationOp):
    """A tensor of ``shape`` and ``dtype`` filled with ``value`` (MegEngine: shape is a var)."""

    type_name = "Fill"
    memory = Memory.MAY_ALIAS
    mge_form = CREATED_AS_VALUE
    value: float = 0.0
    shape: tuple[int, ...] = ()

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_shape_param(self, self.shape)
        return [TensorInfo(self.shape, self.out_dtype())]


@register_op
class Alloc(Fill):
    """MegEngine's ``Alloc``: a tensor of the shape its input var holds, left uninitialized
    (mge fills zeros). MegEngine's dumps use it for its shape only: ``conv_transpose3d``
    with ``output_padding`` passes one as the output-shape var of
    ``Convolution3DBackwardData``. The reader folds the shape var into ``shape``."""

    type_name = "Alloc"
    memory = Memory.FRESH
    mge_form = MgeForm("Alloc", ("DType",), static=(("shape", "shape"),))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if self.value != 0:
            self.fail(f"Alloc has no fill value (mge fills zeros), got {self.value}")
        return super().infer(inputs)


def _scalar(op: OpDef, what: str, value: np.ndarray) -> float:
    flat = np.asarray(value).reshape(-1)
    if flat.size != 1:
        op.fail(f"its {what} input must hold one value, got shape {np.shape(value)}")
    return flat[0].item()


@register_op
class Linspace(CreationOp):
    """``num`` evenly spaced float32 values from ``start`` to ``stop`` (included when
    ``endpoint``).

    MegEngine passes start, stop and num as input vars. With no inputs the params hold
    them (and a ``.mge`` file holds the result as a constant); a traced
    ``F.linspace(0, 1, x.shape[2])`` also gets the three vars as inputs ("sources",
    :mod:`mge.graph.static_values`), so a dumped graph follows the input size.
    """

    type_name = "Linspace"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("Linspace", ("Linspace",),
                       static=(("start", "float"), ("stop", "float"), ("num", "int")))
    nr_inputs = (0, 3)
    #: the ``.mge`` writer stores an input-less one as its value
    value_without_inputs = True
    start: float = 0.0
    stop: float = 1.0
    num: int = 1
    endpoint: bool = True

    def with_sources(self, values: Sequence[np.ndarray]) -> Linspace:
        """This op with start, stop and num from its inputs' values."""
        start, stop, num = (_scalar(self, w, v) for w, v in zip(("start", "stop", "num"),
                                                                values, strict=True))
        if num != int(num) or num < 0:
            self.fail(f"num must be a non-negative integer, got {num}")
        return dataclasses.replace(self, start=float(start), stop=float(stop), num=int(num))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        op = self
        if inputs:
            for what, info in zip(("start", "stop", "num"), inputs, strict=True):
                if numel(info.shape) != 1:
                    self.fail(f"its {what} input must hold one value, got {info}", inputs)
            if all(i.value is not None for i in inputs):
                op = self.with_sources([i.value for i in inputs])
        if not isinstance(op.num, int) or op.num < 0:
            op.fail(f"num must be a non-negative int, got {op.num!r}")
        if op.dtype != "float32":
            op.fail("Linspace outputs float32 (cast afterwards)")
        return [TensorInfo((op.num,), op.out_dtype())]


@register_op
class Eye(CreationOp):
    """A 2-d ``shape`` tensor with ones on diagonal ``k`` (a 1-entry shape ``(n,)`` is
    ``(n, n)``, as MegEngine's). MegEngine passes the shape as an input var; a traced
    ``F.eye(x.shape[1])`` gets it as an input ("source") too, so a dumped graph follows
    the input size; without inputs the ``.mge`` writer stores its value."""

    type_name = "Eye"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("Eye", ("Eye",), static=(("shape", "shape"),))
    nr_inputs = (0, 1)
    value_without_inputs = True
    k: int = 0
    shape: tuple[int, ...] = (1, 1)

    @property
    def dims(self) -> tuple[int, int]:
        """The output shape (rows, columns)."""
        return (self.shape[0], self.shape[-1])

    def with_sources(self, values: Sequence[np.ndarray]) -> Eye:
        """This op with ``shape`` from its input's value."""
        return dataclasses.replace(self, shape=shape_from_source(self, values[0]))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        op = resolved(self, inputs)
        check_shape_param(op, op.shape)
        if len(op.shape) not in (1, 2):
            op.fail(f"shape must have 1 or 2 dims, got {op.shape}")
        return [TensorInfo(op.dims, op.out_dtype())]
