"""Complex tensors as MegEngine 1.13 has them: a pair of float32 tensors, never a kernel.

MegEngine keeps a complex64 tensor as its real and imaginary float32 parts (its C++
``ComplexTransformation``) and runs every op it supports on them as float32 ops. This
module does the same with :class:`ComplexTensor`: ``apply`` on a complex input reaches
:meth:`ComplexTensor.apply_symbolic`, which runs the supported ops on the parts. So every
backend runs complex tensors, and a trace records, and a ``.mge`` dump holds, only
float32 operators, as MegEngine's do. What MegEngine supports, and nothing more:

- ``Elemwise`` ``ADD``, ``SUB`` (both operands complex), ``MUL`` (complex times complex or
  a float32 tensor of the parts' dtype) and ``NEGATE``;
- ``Reshape`` and ``Subtensor`` (basic indexing, ``flatten``) of a complex tensor;
- ``GetVarShape``, and ``shape``/``dtype``/``device``/``numpy()``.

Every other op raises ``RuntimeError("unsupported op for complex: <op>")`` as MegEngine
does (it asserts); a complex tensor cannot be a traced output (MegEngine's message too).
One deliberate difference: ``Tensor(np.array([1 + 2j], "complex64"))`` keeps its shape
``(1,)``; MegEngine 1.13 returns shape ``(1, 1)`` there.

Example:
    >>> import mge, mge.functional as F
    >>> z = F.complex(mge.tensor([1.0, 2.0]), mge.tensor([3.0, 4.0]))
    >>> z.dtype, (z * z).numpy().tolist()
    (dtype('complex64'), [(-8+6j), (-12+16j)])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..dtype import float32
from ..ops.elemwise import Elemwise
from ..ops.shape import GetVarShape, Reshape, Subtensor
from .apply import SymbolicValue, apply
from .opdef import OpDef, TensorInfo
from .tensor import base
from .tensor.base import Tensor

COMPLEX64 = np.dtype(np.complex64)


class ComplexTensor(Tensor):
    """A complex64 tensor: its float32 parts ``real`` and ``imag`` (same shape and device).

    ``isinstance(z, Tensor)`` holds and ``z.dtype`` is complex64, as in MegEngine. Build one
    with ``F.complex``/``F.polar`` or ``Tensor(<complex64 array>)``.
    """

    __slots__ = ("_real", "_imag")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Built by :meth:`of` (``Tensor(...)`` on complex data returns one already made)."""

    @classmethod
    def of(cls, real: Tensor, imag: Tensor, what: str = "complex") -> ComplexTensor:
        """The complex tensor ``real + imag * 1j`` of two float32 tensors of one shape.

        Raises:
            RuntimeError: a part is not float32 (MegEngine's complex tensors are complex64
                only), or the shapes or devices differ.
        """
        for part in (real, imag):
            if not isinstance(part, Tensor) or isinstance(part, ComplexTensor):
                raise RuntimeError(f"{what}: the parts must be real tensors, got "
                                   f"{type(part).__name__} of dtype {getattr(part, 'dtype', None)}")
        if real.dtype != float32 or imag.dtype != float32:
            raise RuntimeError(f"{what}: the parts must both be float32 (complex64 is the one "
                               f"complex dtype), got {real.dtype} and {imag.dtype}")
        if real.shape != imag.shape:
            raise RuntimeError(f"{what}: the real part has shape {real.shape} and the "
                               f"imaginary part {imag.shape}; they must be equal")
        if real.device != imag.device:
            raise RuntimeError(f"{what}: the parts are on {real.device} and {imag.device}")
        t = object.__new__(cls)
        t._real, t._imag = real, imag
        t._data = t._backend = None
        t._shape, t._dtype, t._device = real._shape, real._dtype, real._device
        t._name = t._qparams = t._grad = t._tape = None
        t._format = "default"
        return t

    @classmethod
    def from_numpy(cls, data: Any, dtype: Any = None, device: str | None = None) -> ComplexTensor:
        """A complex tensor holding ``data`` (complex64 values, or any values with
        ``dtype="complex64"``)."""
        arr = data.numpy() if isinstance(data, Tensor) else data
        arr = np.asarray(arr, dtype=COMPLEX64 if dtype is not None else None)
        if arr.dtype != COMPLEX64:
            raise TypeError(f"unsupported dtype {arr.dtype} (complex64 is mge's and MegEngine's "
                            "one complex dtype)")
        return cls.of(Tensor(np.ascontiguousarray(arr.real), device=device),
                      Tensor(np.ascontiguousarray(arr.imag), device=device))

    # ----------------------------------------------------------------- the parts
    @property
    def real(self) -> Tensor:
        """The float32 real part."""
        return self._real

    @property
    def imag(self) -> Tensor:
        """The float32 imaginary part."""
        return self._imag

    @property
    def dtype(self) -> np.dtype:
        return COMPLEX64

    def numpy(self) -> np.ndarray:
        """The values as a complex64 numpy array."""
        out = np.empty(self._shape, COMPLEX64)
        out.real, out.imag = self._real.numpy(), self._imag.numpy()
        return out

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=" ", prefix="Tensor(")
        return f"Tensor({body}, dtype=complex64, device={self._device})"

    def _array_on(self, backend: Any) -> Any:
        raise SymbolicValue(self)  # ``apply`` then runs the op on the parts (below)

    def _place(self, device: str) -> None:
        self._real._place(device)
        self._imag._place(device)
        self._device = device

    def detach(self) -> ComplexTensor:
        return ComplexTensor.of(self._real.detach(), self._imag.detach())

    def set_value(self, value: Any) -> None:
        raise RuntimeError("unsupported op for complex: set_value (MegEngine's complex "
                           "tensors cannot be written in place)")

    _reset = set_value

    @classmethod
    def apply_symbolic(cls, op: OpDef, inputs: Sequence[Tensor],
                       out_infos: Sequence[TensorInfo]) -> tuple[Tensor, ...]:
        """Run ``op`` on the parts of its complex inputs (``apply``'s path for them)."""
        rule = _rule(op)
        if rule is None:
            raise RuntimeError(f"unsupported op for complex: {_op_name(op)} (MegEngine 1.13's "
                               "complex tensors support +, -, *, negation, reshape, basic "
                               "indexing, F.real and F.imag)")
        return rule(op, list(inputs))


def _op_name(op: OpDef) -> str:
    mode = getattr(op, "mode", None)
    return f"{op.type_name}({mode})" if isinstance(mode, str) else op.type_name


def _parts(t: Tensor) -> tuple[Tensor, Tensor | None]:
    return (t._real, t._imag) if isinstance(t, ComplexTensor) else (t, None)


def _mul(op: OpDef, inputs: list[Tensor]) -> tuple[Tensor, ...]:
    (ar, ai), (br, bi) = _parts(inputs[0]), _parts(inputs[1])
    add, sub = type(op)(mode="ADD"), type(op)(mode="SUB")

    def mul(x: Tensor, y: Tensor) -> Tensor:
        return apply(op, x, y)[0]

    if ai is not None and bi is not None:
        real = apply(sub, mul(ar, br), mul(ai, bi))[0]
        imag = apply(add, mul(ar, bi), mul(ai, br))[0]
        return (ComplexTensor.of(real, imag),)
    scale = br if ai is not None else ar
    z_r, z_i = (ar, ai) if ai is not None else (br, bi)
    if scale.dtype != float32:
        raise RuntimeError(f"unsupported op for complex: Elemwise(MUL) of complex64 and "
                           f"{scale.dtype} (the real factor must be float32)")
    return (ComplexTensor.of(mul(z_r, scale), mul(z_i, scale)),)


def _on_parts(first_only: bool) -> Callable[[OpDef, list[Tensor]], tuple[Tensor, ...]]:
    """The rule of an op run once on the real parts and once on the imaginary parts:
    every input complex (``first_only=False``: ADD, SUB, NEGATE), or the first complex
    and the others (shapes, indices) given to both runs (Reshape, Subtensor)."""

    def rule(op: OpDef, inputs: list[Tensor]) -> tuple[Tensor, ...]:
        operands = inputs[:1] if first_only else inputs
        rest = inputs[1:] if first_only else []
        if not all(isinstance(t, ComplexTensor) for t in operands) or any(
                isinstance(t, ComplexTensor) for t in rest):
            dtypes = ", ".join(str(t.dtype) for t in inputs)
            raise RuntimeError(f"unsupported op for complex: {_op_name(op)} of ({dtypes}): "
                               "MegEngine runs it on complex operands only")
        reals = apply(op, *[t._real for t in operands], *rest)
        imags = apply(op, *[t._imag for t in operands], *rest)
        return tuple(ComplexTensor.of(r, i) for r, i in zip(reals, imags))

    return rule


def _on_real(op: OpDef, inputs: list[Tensor]) -> tuple[Tensor, ...]:
    return apply(op, *[_parts(t)[0] for t in inputs])


_ELEMWISE: dict[str, Callable[[OpDef, list[Tensor]], tuple[Tensor, ...]]] = {
    "MUL": _mul, "ADD": _on_parts(False), "SUB": _on_parts(False), "NEGATE": _on_parts(False)}
_OPS: dict[type, Callable[[OpDef, list[Tensor]], tuple[Tensor, ...]]] = {
    Reshape: _on_parts(True), Subtensor: _on_parts(True), GetVarShape: _on_real}


def _rule(op: OpDef) -> Callable[[OpDef, list[Tensor]], tuple[Tensor, ...]] | None:
    if isinstance(op, Elemwise):
        return _ELEMWISE.get(op.mode)
    return _OPS.get(type(op))


def is_complex(t: Any) -> bool:
    """Whether ``t`` is a complex tensor."""
    return isinstance(t, ComplexTensor)


base.COMPLEX_FACTORY.append(ComplexTensor.from_numpy)

__all__ = ["COMPLEX64", "ComplexTensor", "is_complex"]
