"""MegEngine's :class:`RNG` and the module-level draws of ``mge.random``.

An ``RNG(seed=s)`` owns a handle (``new_rng_handle``): two RNGs made with one seed give
the same sequence, each draw advancing it. ``RNG()`` (no seed) draws from the global
generator, which :func:`seed` restarts. Draws run the random ops of :mod:`mge.ops.random`
(through ``apply``: ``jit.trace`` records them, and dumped graphs draw on every run).

Example:
    >>> import mge
    >>> a, b = RNG(seed=5), RNG(seed=5)
    >>> bool((a.uniform(size=(3,)).numpy() == b.uniform(size=(3,)).numpy()).all())
    True
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..core._imperative_rt import ops as _ops
from ..core.apply import apply
from ..core.tensor.base import Tensor
from ..device import get_default_device
from ..ops.random import (
    BetaRNG,
    GammaRNG,
    GaussianRNG,
    PermutationRNG,
    PoissonRNG,
    ShuffleRNG,
    UniformRNG,
)

Size = int | Iterable[int] | None


def _shape(size: Size) -> tuple[int, ...]:
    """``size`` (default ``(1,)``) as the ``shape`` param of a random op."""
    if size is None:
        return (1,)
    dims = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    return tuple(int(d) for d in dims)


def _params(name: str, values: dict[str, Any], size: Size, device: str | None) -> list[Tensor]:
    """The parameters as float32 tensors broadcast to ``size + broadcast(params)``."""
    arrays = []
    for key, value in values.items():
        if isinstance(value, Tensor):
            if device is not None and value.device != device:
                raise ValueError(f"{name}: {key} is on {value.device}, the RNG on {device}")
            arrays.append(value.numpy().astype(np.float32))
        else:
            if not value > 0:
                raise ValueError(f"{name} is not defined when {key} <= 0 (got {value})")
            arrays.append(np.array(value, dtype=np.float32))
    try:
        target = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError as e:
        raise ValueError(f"{name}: parameter shapes {[a.shape for a in arrays]} do not "
                         "broadcast") from e
    if isinstance(size, (int, np.integer)) and size != 0:
        size = (size,)
    if isinstance(size, Iterable):
        target = tuple(int(s) for s in size) + target
    return [Tensor(np.broadcast_to(a, target).copy(), device=device) for a in arrays]


class RNG:
    """Random draws from a generator seeded with ``seed`` on ``device``; without a seed,
    from the global generator (``mge.random.seed``) on the default device.

    Example:
        >>> rng = RNG(seed=1)
        >>> rng.normal(size=(2, 2)).shape
        (2, 2)
    """

    def __init__(self, seed: int | None = None, device: str | None = None) -> None:
        if seed is not None:
            self._device: str | None = device or get_default_device()
            self._handle = _ops.new_rng_handle(self._device, seed)
        else:
            self._device, self._handle = None, 0
        self._seed = seed

    def _op_seed(self) -> int:
        return self._seed if self._seed is not None else _ops.get_global_rng_seed()

    def _draw(self, op: Any, *inputs: Tensor) -> tuple[Tensor, ...]:
        """``op``'s outputs, on this RNG's device (an input-less op's are on the default)."""
        outs = apply(op, *inputs)
        if self._device is None or all(o.device == self._device for o in outs):
            return outs
        return tuple(o.to(self._device) for o in outs)

    def uniform(self, low: float = 0, high: float = 1, size: Size = None) -> Tensor:
        """float32 draws from U[low, high) of shape ``size`` (default ``(1,)``)."""
        if not low < high:
            raise ValueError(f"Uniform is not defined when low >= high: low ({low}) must not "
                             f"exceed high ({high}) nor equal it")
        op = UniformRNG(seed=self._op_seed(), handle=self._handle, dtype="float32",
                        shape=_shape(size))
        (out,) = self._draw(op)
        return out if (low, high) == (0, 1) else low + (high - low) * out

    def normal(self, mean: float = 0, std: float = 1, size: Size = None) -> Tensor:
        """float32 draws from N(mean, std^2) of shape ``size`` (default ``(1,)``)."""
        op = GaussianRNG(seed=self._op_seed(), handle=self._handle, mean=float(mean),
                         std=float(std), dtype="float32", shape=_shape(size))
        (out,) = self._draw(op)
        return out

    def gamma(self, shape: Tensor | float, scale: Tensor | float = 1,
              size: Size = None) -> Tensor:
        """Gamma(shape, scale) draws of shape ``size + broadcast(shape, scale).shape``."""
        params = _params("Gamma", {"shape": shape, "scale": scale}, size, self._device)
        (out,) = self._draw(GammaRNG(seed=self._op_seed(), handle=self._handle), *params)
        return out

    def beta(self, alpha: Tensor | float, beta: Tensor | float, size: Size = None) -> Tensor:
        """Beta(alpha, beta) draws of shape ``size + broadcast(alpha, beta).shape``."""
        params = _params("Beta", {"alpha": alpha, "beta": beta}, size, self._device)
        (out,) = self._draw(BetaRNG(seed=self._op_seed(), handle=self._handle), *params)
        return out

    def poisson(self, lam: Tensor | float, size: Size = None) -> Tensor:
        """float32 Poisson(lam) draws of shape ``size + lam.shape``."""
        params = _params("Poisson", {"lam": lam}, size, self._device)
        (out,) = self._draw(PoissonRNG(seed=self._op_seed(), handle=self._handle), *params)
        return out

    def permutation(self, n: int | Tensor, *, dtype: str = "int32") -> Tensor:
        """A random permutation of ``0..n-1`` as ``dtype``; for a Tensor ``n``, a copy of
        it shuffled along its first axis."""
        if isinstance(n, Tensor):
            return self._shuffled(n)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"Permutation needs an int n >= 0, got {n!r}")
        op = PermutationRNG(seed=self._op_seed(), handle=self._handle, dtype=dtype,
                            shape=(int(n),))
        (out,) = self._draw(op)
        return out

    def shuffle(self, inp: Tensor) -> None:
        """Shuffle ``inp`` in place along its first axis."""
        inp._reset(self._shuffled(inp))

    def _shuffled(self, inp: Tensor) -> Tensor:
        if not isinstance(inp, Tensor):
            raise TypeError(f"shuffle needs a Tensor, got {type(inp).__name__}")
        out, _ = self._draw(ShuffleRNG(seed=self._op_seed(), handle=self._handle), inp)
        return out

    def __del__(self) -> None:
        handle = getattr(self, "_handle", 0)
        if handle and _ops is not None:  # module globals may be gone at interpreter exit
            _ops.delete_rng_handle(handle)


def seed(seed: int) -> None:
    """Restart the global generator from ``seed``."""
    _ops.set_global_rng_seed(seed)


seed(int(time.time()))
_default = RNG()
uniform = _default.uniform
normal = _default.normal
gamma = _default.gamma
beta = _default.beta
poisson = _default.poisson
permutation = _default.permutation
shuffle = _default.shuffle

__all__ = ["RNG", "beta", "gamma", "normal", "permutation", "poisson", "seed", "shuffle",
           "uniform"]
