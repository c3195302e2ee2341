"""MegEngine's random-number ops (``UniformRNG``, ``GaussianRNG``, ``GammaRNG``,
``BetaRNG``, ``PoissonRNG``, ``PermutationRNG``, ``ShuffleRNG``), run with
``megengine.core._imperative_rt.core2.apply``.

They draw on the host from the generator of their ``handle`` (see
:mod:`mge.core.rng_handles`), so they are not graph ops: their outputs are
data. ``UniformRNG``/``GaussianRNG``/``PermutationRNG`` take the output shape as an
int32 tensor; ``GammaRNG``/``BetaRNG`` take two same-shape parameter tensors,
``PoissonRNG`` one; ``ShuffleRNG`` takes the tensor to shuffle along axis 0 and gives
``(shuffled, indices)`` (the shuffle is an indexing op, so gradients flow through it).

Example:
    >>> import mge
    >>> from mge.core._imperative_rt.core2 import apply
    >>> (y,) = apply(UniformRNG(seed=3), mge.tensor([2, 3], dtype="int32"))
    >>> y.shape, str(y.dtype)
    ((2, 3), 'float32')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .rng_handles import rng_generator
from .tensor.base import Tensor


@dataclass(frozen=True)
class RNGOp:
    """Base of the RNG ops: ``seed`` and ``handle`` pick the generator (handle 0: global)."""

    seed: int = 0
    handle: int = 0
    nr_inputs: ClassVar[int] = 1

    def __call__(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        name = type(self).__name__
        if len(inputs) != self.nr_inputs:
            raise TypeError(f"{name} takes {self.nr_inputs} input(s), got {len(inputs)}")
        for t in inputs:
            if not isinstance(t, Tensor):
                raise TypeError(f"{name}: inputs must be Tensors, got {type(t).__name__}")
        gen, device = rng_generator(self.handle, self.seed)
        device = device or inputs[0].device
        return tuple(out if isinstance(out, Tensor) else Tensor(out, device=device)
                     for out in self._draw(gen, *inputs))

    def _draw(self, gen: np.random.Generator, *inputs: Tensor) -> tuple[Any, ...]:
        raise NotImplementedError

    def _size(self, shape: Tensor) -> tuple[int, ...]:
        value = shape.numpy()
        if value.ndim != 1 or value.dtype.kind not in "iu" or (value < 0).any():
            raise ValueError(f"{type(self).__name__}: the shape input must be a 1-d int "
                             f"tensor of non-negative sizes, got {value!r}")
        return tuple(int(v) for v in value)

    def _params(self, *params: Tensor) -> list[np.ndarray]:
        arrays = [p.numpy().astype(np.float32) for p in params]
        if any(a.shape != arrays[0].shape for a in arrays):
            raise ValueError(f"{type(self).__name__}: parameter tensors must have one shape, "
                             f"got {[a.shape for a in arrays]}")
        if any((a <= 0).any() for a in arrays):
            raise ValueError(f"{type(self).__name__}: parameters must be > 0")
        return arrays


def _float_dtype(op: RNGOp, dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{type(op).__name__}: dtype must be a float type, got {dt}")
    return dt


@dataclass(frozen=True)
class UniformRNG(RNGOp):
    """U[0, 1) of the shape given by the input tensor."""

    dtype: Any = "float32"

    def _draw(self, gen: np.random.Generator, *inputs: Tensor) -> tuple[Any, ...]:
        dt = _float_dtype(self, self.dtype)
        return (gen.random(self._size(inputs[0]), dtype=np.float32).astype(dt),)


@dataclass(frozen=True)
class GaussianRNG(RNGOp):
    """N(mean, std^2) of the shape given by the input tensor."""

    mean: float = 0.0
    std: float = 1.0
    dtype: Any = "float32"

    def _draw(self, gen: np.random.Generator, *inputs: Tensor) -> tuple[Any, ...]:
        dt = _float_dtype(self, self.dtype)
        if self.std < 0:
            raise ValueError(f"GaussianRNG: std must be >= 0, got {self.std}")
        return (gen.normal(self.mean, self.std, self._size(inputs[0])).astype(dt),)


@dataclass(frozen=True)
class GammaRNG(RNGOp):
    """Gamma(shape, scale) elementwise over the two same-shape float tensors."""

    nr_inputs: ClassVar[int] = 2

    def _draw(self, gen: np.random.Generator, *inputs: Tensor) -> tuple[Any, ...]:
        shape, scale = self._params(*inputs)
        return (gen.gamma(shape, scale).astype(np.float32),)


@dataclass(frozen=True)
class BetaRNG(RNGOp):
    """Beta(alpha, beta) elementwise over the two same-shape float tensors."""

    nr_inputs: ClassVar[int] = 2

    def _draw(self, gen: np.random.Generator, *inputs: Tensor) -> tuple[Any, ...]:
        alpha, beta = self._params(*inputs)
        return (gen.beta(alpha, beta).astype(np.float32),)


@dataclass(frozen=True)
class PoissonRNG(RNGOp):
    """Poisson(lam) elementwise over the float tensor ``lam`` (float32 counts)."""

    def _draw(self, gen: np.random.Generator, *inputs: Tensor) -> tuple[Any, ...]:
        (lam,) = self._params(*inputs)
        return (gen.poisson(lam).astype(np.float32),)


@dataclass(frozen=True)
class PermutationRNG(RNGOp):
    """A random permutation of ``0..n-1`` (``n``: the one size in the input) as ``dtype``."""

    dtype: Any = "int32"

    def _draw(self, gen: np.random.Generator, *inputs: Tensor) -> tuple[Any, ...]:
        dt = np.dtype(self.dtype)
        if dt not in (np.float32, np.int32, np.int16):
            raise TypeError(f"PermutationRNG: dtype must be float32, int32 or int16, got {dt}")
        size = self._size(inputs[0])
        if len(size) != 1:
            raise ValueError(f"PermutationRNG: the shape input must hold one size, got {size}")
        if size[0] > np.iinfo(dt).max + 1 if dt.kind == "i" else size[0] > 2 ** 24:
            raise ValueError(f"PermutationRNG: {size[0]} values do not fit {dt} exactly")
        return (gen.permutation(size[0]).astype(dt),)


@dataclass(frozen=True)
class ShuffleRNG(RNGOp):
    """The input shuffled along axis 0, and the int32 indices used (``(out, indices)``)."""

    def _draw(self, gen: np.random.Generator, *inputs: Tensor) -> tuple[Any, ...]:
        (inp,) = inputs
        if inp.ndim == 0:
            inp = inp.reshape(1)
        if inp.size == 0:
            raise ValueError(f"ShuffleRNG: input must have at least one element along axis 0, "
                             f"got shape {inp.shape}")
        index = Tensor(gen.permutation(inp.shape[0]).astype(np.int32), device=inp.device)
        return inp[index], index


__all__ = ["BetaRNG", "GammaRNG", "GaussianRNG", "PermutationRNG", "PoissonRNG", "RNGOp",
           "ShuffleRNG", "UniformRNG"]
