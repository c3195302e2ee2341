"""ONNX converters for the integer bitwise ops ``BitwiseAnd``/``Or``/``Xor``/``Not``.

MegEngine has no bitwise elementwise modes for integers (its AND/OR/XOR are logical), so
the binary ops are composed bit by bit from its shifts and modulo: bit ``i`` of ``x`` is
``(x >> i) mod 2`` (arithmetic shift, floor modulo: right for negative values too), the
bits are combined, shifted back and summed in the operands' type (the sign bit wraps as
two's complement does). ``BitwiseNot`` is ``-x - 1`` for signed and ``max - x`` for
unsigned types.

Example:
    >>> import mge
    >>> Bitwise("and")(None, mge.tensor(np.array([6, -1], np.int32)),
    ...                 mge.tensor(np.array([3, 5], np.int32))).numpy()
    array([2, 5], dtype=int32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter


def _bit(x: Tensor, i: Tensor, two: Tensor) -> Tensor:
    return F.mod(F.right_shift(x, i), two)


@dataclasses.dataclass(frozen=True)
class Bitwise(OnnxOp):
    """``and``/``or``/``xor`` of two integer tensors of one type, or ``not`` of one."""

    kind: str

    def __call__(self, mod: Any, a: Tensor, b: Tensor | None = None) -> Tensor:
        dtype = np.dtype(a.dtype)
        if dtype.kind not in "iu" or (b is not None and np.dtype(b.dtype) != dtype):
            raise TypeError(f"Bitwise{self.kind.title()}: integer operands of one type "
                            f"expected, got {dtype}" + ("" if b is None else f" and {b.dtype}"))
        if self.kind == "not":
            if dtype.kind == "i":
                return F.sub(F.neg(a), F.ones_like(a))
            return F.sub(F.full_like(a, int(np.iinfo(dtype).max)), a)
        shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
        a, b = F.broadcast_to(a, shape), F.broadcast_to(b, shape)
        two = F.full_like(a, 2)
        total = F.zeros_like(a)
        for i in range(dtype.itemsize * 8):
            shift = F.full_like(a, i)
            x, y = _bit(a, shift, two), _bit(b, shift, two)
            if self.kind == "and":
                bit = F.mul(x, y)
            elif self.kind == "or":
                bit = F.maximum(x, y)
            else:
                bit = F.mod(F.add(x, y), two)
            total = F.add(total, F.left_shift(bit, shift))
        return total


@converter("BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot")
def _bitwise(node: Node, ctx: Any) -> Converted:
    kind = node.op_type.removeprefix("Bitwise").lower()
    dtype = ctx.dtypes.get(node.input(0))
    if dtype is not None and dtype.kind not in "iu":
        raise Unsupported(f"{node.op_type} of {dtype} values (integers only)")
    count = 1 if kind == "not" else 2
    return Bitwise(kind), node.inputs[:count], node.outputs[:1]


__all__: list[str] = []
