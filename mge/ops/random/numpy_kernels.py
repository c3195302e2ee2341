"""numpy kernels of the random ops (:mod:`mge.ops.random`).

Eagerly an op draws from the generator of its ``handle`` (:mod:`.handles`). In a plan
(a traced, loaded or compiled graph) the preparer gives each op node a generator of its
own seeded with the op's ``seed``, which advances from run to run: MegEngine's graph
operators keep their random state the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import NUMPY, Prepared, PrepareSite
from . import (
    BetaRNG,
    GammaRNG,
    GaussianRNG,
    PermutationRNG,
    PoissonRNG,
    RNGOp,
    ShuffleRNG,
    UniformRNG,
)
from .handles import rng_generator

ALL = (UniformRNG, GaussianRNG, GammaRNG, BetaRNG, PoissonRNG, PermutationRNG, ShuffleRNG)


def _positive(op: RNGOp, *params: np.ndarray) -> list[np.ndarray]:
    arrays = [np.asarray(p, np.float32) for p in params]
    if any((a <= 0).any() or np.isnan(a).any() for a in arrays):
        raise ValueError(f"{op.type_name}: parameters must be > 0")
    return arrays


def draw(op: RNGOp, gen: np.random.Generator, *arrays: np.ndarray) -> Any:
    """``op``'s outputs drawn from ``gen`` (numpy arrays; a tuple for ShuffleRNG)."""
    if isinstance(op, UniformRNG):
        return gen.random(op.out_shape(), dtype=np.float32).astype(op.float_dtype())
    if isinstance(op, GaussianRNG):
        if not op.std >= 0:
            raise ValueError(f"GaussianRNG: std must be >= 0, got {op.std}")
        return gen.normal(op.mean, op.std, op.out_shape()).astype(op.float_dtype())
    if isinstance(op, GammaRNG):
        return gen.gamma(*_positive(op, *arrays)).astype(np.float32)
    if isinstance(op, BetaRNG):
        return gen.beta(*_positive(op, *arrays)).astype(np.float32)
    if isinstance(op, PoissonRNG):
        return gen.poisson(*_positive(op, *arrays)).astype(np.float32)
    if isinstance(op, PermutationRNG):
        return gen.permutation(op.out_shape()[0]).astype(np.dtype(op.dtype))
    if isinstance(op, ShuffleRNG):
        x = np.asarray(arrays[0])
        x = x.reshape(1) if x.ndim == 0 else x
        index = gen.permutation(x.shape[0]).astype(np.int32)
        return x[index], index
    raise NotImplementedError(f"no random draw for {op.type_name}")


@NUMPY.kernel(*ALL)
def random_draw(op: RNGOp, *arrays: np.ndarray) -> Any:
    """Eager: draw from the generator of ``op.handle``."""
    gen, _ = rng_generator(op.handle, op.seed, op.type_name)
    return draw(op, gen, *arrays)


def node_generator(op: RNGOp) -> np.random.Generator:
    """The generator one graph node of ``op`` owns (seeded with ``op.seed``)."""
    return np.random.default_rng(int(op.seed))


@NUMPY.preparer(*ALL)
def prepare_random(op: RNGOp, site: PrepareSite) -> Prepared | None:
    """For a graph node (a plan, the graph interpreter): a generator of the node's own;
    eagerly: None (the handle's generator, through the kernel)."""
    if site.host is None and not site.in_graph:
        return None
    gen = node_generator(op)
    return Prepared(lambda *arrays: draw(op, gen, *arrays), site.all_args())


__all__ = ["draw", "node_generator", "prepare_random", "random_draw"]
