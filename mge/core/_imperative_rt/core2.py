"""``megengine.core._imperative_rt.core2``: ``apply`` (run an op on tensors, returns a
tuple), ``TensorWeakRef`` (a weak reference to a tensor), ``sync`` (wait for queued
work: mge runs eagerly, so there is none) and the interpreter options ``get_option`` /
``set_option``.

The options are MegEngine's, with its defaults and environment variables; they are kept
and read back but change nothing in mge, which computes eagerly and synchronously
(``async_level``) and never drops and recomputes tensors (``enable_drop``, the DTR ones).

Example:
    >>> import mge
    >>> x = mge.tensor([1.0])
    >>> ref = TensorWeakRef(x)
    >>> ref() is x
    True
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from typing import Any

import numpy as np

from ...ops.random import RNGOp, ShapedRNGOp
from ...ops.random.handles import get_rng_handle_compnode
from ..apply import apply as _apply
from ..async_error import AsyncError
from ..async_error import sync as _sync_errors
from ..complex import ComplexTensor
from ..tensor.base import Tensor


class TensorWeakRef(weakref.ref):
    """A weak reference to a :class:`Tensor`: calling it gives the tensor, or ``None``
    once it was freed."""

    def __new__(cls, tensor: Tensor) -> TensorWeakRef:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"TensorWeakRef needs a Tensor, got {type(tensor).__name__}")
        return super().__new__(cls, tensor)

    def __init__(self, tensor: Tensor) -> None:
        super().__init__(tensor)


def apply(op: Any, *inputs: Tensor) -> tuple[Tensor, ...]:
    """Run ``op`` on ``inputs``; returns one Tensor per output (``mge.core.apply``).

    ``UniformRNG``/``GaussianRNG``/``PermutationRNG`` take their size as an int32 shape
    tensor here, as MegEngine's do; mge's ops hold it as their ``shape`` param. Random
    draws land on their handle's device (else on the inputs')."""
    if not isinstance(op, RNGOp):
        return _apply(op, *inputs)
    device = get_rng_handle_compnode(op.handle) if op.handle else None
    if isinstance(op, ShapedRNGOp) and len(inputs) == 1:
        device = device or inputs[0].device
        op = dataclasses.replace(op, shape=_shape_value(op, inputs[0]))
        inputs = ()
    outs = _apply(op, *inputs)
    if device is None or all(o.device == device for o in outs):
        return outs
    return tuple(o.to(device) for o in outs)


def _shape_value(op: ShapedRNGOp, shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, Tensor):
        raise TypeError(f"{op.type_name}: inputs must be Tensors, got {type(shape).__name__}")
    value = shape.numpy()
    if value.ndim != 1 or value.dtype.kind not in "iu" or (value < 0).any():
        raise ValueError(f"{op.type_name}: the shape input must be a 1-d int tensor of "
                         f"non-negative sizes, got {value!r}")
    return tuple(int(v) for v in np.asarray(value))


#: option -> (environment variable, default), as MegEngine 1.13's interpreter
_OPTIONS = {
    "async_level": ("MEGENGINE_INTERP_ASYNC_LEVEL", 2),
    "enable_drop": ("MEGENGINE_ENABLE_DROP", 0),
    "max_recompute_time": ("MEGENGINE_MAX_RECOMP_TIME", 1),
    "catch_worker_execption": ("MEGENGINE_CATCH_WORKER_EXEC", 1),
    "enable_host_compute": ("MEGENGINE_HOST_COMPUTE", 1),
    "disable_memory_forwarding": ("MEGENGINE_DISABLE_MEMORY_FORWARDING", 0),
    "enable_dtr_auto_drop": ("MEGENGINE_DTR_AUTO_DROP", 0),
    "enable_dtr_sqrt_sampling": ("MEGENGINE_DTR_SQRT_SAMPLING", 0),
    "dtr_eviction_threshold": ("MEGENGINE_DTR_EVICTION_THRESHOLD", 0),
    "dtr_evictee_minimum_size": ("MEGENGINE_DTR_EVICTEE_MINIMUM_SIZE", 1048576),
    "record_computing_path": ("MEGENGINE_RECORD_COMPUTING_PATH", 0),
}
_values: dict[str, int] = {}


def _check_option(name: str) -> None:
    if name not in _OPTIONS:
        raise KeyError(f"unknown interpreter option {name!r}; MegEngine's are "
                       f"{sorted(_OPTIONS)}")


def get_option(name: str) -> int:
    """The value of interpreter option ``name`` (its environment variable or default
    unless set)."""
    _check_option(name)
    if name not in _values:
        env, default = _OPTIONS[name]
        raw = os.environ.get(env, "")
        _values[name] = int(raw) if raw.strip().isdigit() else default
    return _values[name]


def set_option(name: str, value: int) -> None:
    """Set interpreter option ``name`` to the non-negative integer ``value``."""
    _check_option(name)
    value = int(value)
    if value < 0:
        raise ValueError(f"option {name} must be >= 0, got {value}")
    _values[name] = value


def create_complex(real: Tensor, imag: Tensor) -> Tensor:
    """The complex64 tensor ``real + imag * 1j`` of two float32 tensors (``F.complex``)."""
    return ComplexTensor.of(real, imag, "create_complex")


def get_real(complex: Tensor) -> Tensor:  # noqa: A002 - MegEngine's argument name
    """The real part of a complex tensor (``F.real``)."""
    if not isinstance(complex, ComplexTensor):
        raise RuntimeError("no fallback implementation for GetReal: not a complex tensor")
    return complex.real


def get_imag(complex: Tensor) -> Tensor:  # noqa: A002 - MegEngine's argument name
    """The imaginary part of a complex tensor (``F.imag``)."""
    if not isinstance(complex, ComplexTensor):
        raise RuntimeError("no fallback implementation for GetImag: not a complex tensor")
    return complex.imag


def sync() -> None:
    """Wait until queued computations finish (mge computes eagerly): raises
    ``AsyncError`` for a value check that failed since (see :mod:`mge.core.async_error`)."""
    _sync_errors()


__all__ = ["AsyncError", "TensorWeakRef", "apply", "create_complex", "get_imag", "get_option",
           "get_real", "set_option", "sync"]
