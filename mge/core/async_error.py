"""MegEngine's ``AsyncError``: a kernel failure reported when a result is next read.

MegEngine runs kernels asynchronously (``mge.config.async_level`` 1 or 2): a kernel that
fails on its input values (an ``AssertEqual`` check) is reported at the next sync point,
as an ``AsyncError`` whose ``__cause__`` is the kernel's error; at ``async_level`` 0 it
raises at once. mge computes eagerly, and keeps that contract for the ops whose kernels
check values (``OpDef.checks_values``): at ``async_level`` >= 1 their failure gives
:class:`FailedTensor` outputs, which raise ``AsyncError`` when read (``numpy()``, as an
input of another op) or at ``sync()``. Shape and dtype errors stay immediate, as in
MegEngine.

Example:
    >>> import mge
    >>> from mge.core.apply import apply
    >>> from mge.ops.utility import AssertEqual
    >>> (x,) = apply(AssertEqual(maxerr=0), mge.tensor([0.0]), mge.tensor([1.0]))
    >>> try:
    ...     x.numpy()
    ... except AsyncError as e:
    ...     print(type(e.__cause__).__name__)
    UnequalError
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..device import get_default_device
from .opdef import TensorInfo
from .tensor.base import Tensor

#: failures not reported yet (``sync()`` raises the first)
_pending: list[BaseException] = []


class AsyncError(RuntimeError):
    """A kernel failed before this read (``__cause__``: its error)."""


def _raise(error: BaseException) -> None:
    if error in _pending:
        _pending.remove(error)
    raise AsyncError(f"an earlier kernel failed: {error}") from error


class FailedTensor(Tensor):
    """An output of a failed kernel: shape and dtype known, reading it raises
    ``AsyncError``."""

    _error: BaseException

    def _array_on(self, backend: Any) -> Any:
        _raise(self._error)

    def _value_access(self, what: str) -> None:
        _raise(self._error)

    def __repr__(self) -> str:
        return f"FailedTensor(shape={self._shape}, dtype={self._dtype}: {self._error})"


def failed_outputs(error: BaseException, out_infos: Sequence[TensorInfo],
                   device: str | None) -> tuple[Tensor, ...]:
    """The outputs of a kernel that raised ``error``; it is reported when one is read or
    at :func:`sync`."""
    _pending.append(error)
    outs = []
    for info in out_infos:
        t = FailedTensor._wrap(None, tuple(info.shape), info.dtype, None,  # type: ignore[arg-type]
                               device or get_default_device())
        t._error = error
        outs.append(t)
    return tuple(outs)


def sync() -> None:
    """Report the first failure not reported yet (``AsyncError``), as MegEngine's sync."""
    if _pending:
        error = _pending[0]
        _pending.clear()
        raise AsyncError(f"an earlier kernel failed: {error}") from error


__all__ = ["AsyncError", "FailedTensor", "failed_outputs", "sync"]
