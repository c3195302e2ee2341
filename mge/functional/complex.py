"""MegEngine's complex helpers ``F.complex``, ``F.real``, ``F.imag`` and ``F.polar``.

A complex tensor is a pair of float32 tensors (:mod:`mge.core.complex`); these
functions build one and take its parts apart, as MegEngine 1.13's ``create_complex``,
``get_real`` and ``get_imag`` do.

Example:
    >>> import mge, mge.functional as F
    >>> z = F.polar(mge.tensor([2.0]), mge.tensor([0.0]))
    >>> z.numpy(), F.real(z).numpy(), F.imag(z).numpy()
    (array([2.+0.j], dtype=complex64), array([2.], dtype=float32), array([0.], dtype=float32))
"""

from __future__ import annotations

from typing import Any

from ..core.complex import ComplexTensor
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from .elemwise import cos, mul, sin


def _as_tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value)


@traceable
def complex(real: Any, imag: Any) -> Tensor:  # noqa: A001 - MegEngine's name
    """The complex64 tensor ``real + imag * 1j`` (both float32, of one shape).

    Raises:
        RuntimeError: a part is not float32, or the shapes differ.

    Example:
        >>> import mge.functional as F
        >>> F.complex([1.0, 2.0], [3.0, 4.0]).numpy()
        array([1.+3.j, 2.+4.j], dtype=complex64)
    """
    return ComplexTensor.of(_as_tensor(real), _as_tensor(imag), "F.complex")


def _part(fn: str, z: Tensor) -> ComplexTensor:
    if not isinstance(z, ComplexTensor):
        raise RuntimeError(f"F.{fn} needs a complex tensor, got "
                           f"{type(z).__name__} of dtype {getattr(z, 'dtype', None)}")
    return z


@traceable
def real(complex: Tensor) -> Tensor:  # noqa: A002 - MegEngine's argument name
    """The float32 real part of a complex tensor.

    Example:
        >>> import mge.functional as F
        >>> F.real(F.complex([1.0], [2.0])).numpy()
        array([1.], dtype=float32)
    """
    return _part("real", complex).real


@traceable
def imag(complex: Tensor) -> Tensor:  # noqa: A002 - MegEngine's argument name
    """The float32 imaginary part of a complex tensor.

    Example:
        >>> import mge.functional as F
        >>> F.imag(F.complex([1.0], [2.0])).numpy()
        array([2.], dtype=float32)
    """
    return _part("imag", complex).imag


@traceable
def polar(abs: Tensor, angle: Tensor) -> Tensor:  # noqa: A002 - MegEngine's argument name
    """The complex tensor ``abs * (cos(angle) + sin(angle) * 1j)``.

    Example:
        >>> import mge, mge.functional as F
        >>> F.polar(mge.tensor([1.0]), mge.tensor([0.0])).numpy()
        array([1.+0.j], dtype=complex64)
    """
    return ComplexTensor.of(mul(abs, cos(angle)), mul(abs, sin(angle)), "F.polar")


__all__ = ["complex", "imag", "polar", "real"]
