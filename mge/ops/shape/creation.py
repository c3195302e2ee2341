"""Creation ops: Fill, Linspace, Eye (their static values are params; ``.mge`` files hold
their results as constants).

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
    TensorInfo,
    register_op,
)
from ...dtype import canonical_dtype
from .shape import (
    StaticParamsOp,
    check_shape_param,
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


@register_op
class Linspace(CreationOp):
    """``num`` evenly spaced float32 values from ``start`` to ``stop`` (included when
    ``endpoint``). MegEngine passes start, stop and num as input vars."""

    type_name = "Linspace"
    memory = Memory.MAY_ALIAS
    mge_form = CREATED_AS_VALUE
    start: float = 0.0
    stop: float = 1.0
    num: int = 1
    endpoint: bool = True

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        if not isinstance(self.num, int) or self.num < 0:
            self.fail(f"num must be a non-negative int, got {self.num!r}")
        if self.dtype != "float32":
            self.fail("Linspace outputs float32 (cast afterwards)")
        return [TensorInfo((self.num,), self.out_dtype())]


@register_op
class Eye(CreationOp):
    """A 2-d ``shape`` tensor with ones on diagonal ``k`` (MegEngine: shape is a var)."""

    type_name = "Eye"
    memory = Memory.MAY_ALIAS
    mge_form = CREATED_AS_VALUE
    k: int = 0
    shape: tuple[int, ...] = (1, 1)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_shape_param(self, self.shape)
        if len(self.shape) != 2:
            self.fail(f"shape must have 2 dims, got {self.shape}")
        return [TensorInfo(self.shape, self.out_dtype())]
