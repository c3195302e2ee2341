"""Op-table cases for the random ops. Their values differ from run to run, so the table
checks shapes, dtypes and NaN positions only (``atol=1e30``); the distributions are checked
in tests/ops/test_random_ops.py."""

from __future__ import annotations

import numpy as np

from mge.ops.random import (
    BetaRNG,
    GammaRNG,
    GaussianRNG,
    PermutationRNG,
    PoissonRNG,
    ShuffleRNG,
    UniformRNG,
)

from .optable import OpCase, rand

_ANY = 1e30  # any finite value passes
_POS = rand(3, 4, low=0.5, high=3)

CASES = [
    OpCase(UniformRNG(seed=1, shape=(3, 4)), [], atol=_ANY),
    OpCase(UniformRNG(seed=1, shape=(0, 2), dtype="float16"), [], atol=_ANY,
           id="UniformRNG-empty-float16"),
    OpCase(GaussianRNG(seed=2, mean=1.0, std=2.0, shape=(5,)), [], atol=_ANY),
    OpCase(PermutationRNG(seed=3, shape=(7,)), [], atol=_ANY),
    OpCase(PermutationRNG(seed=3, shape=(7,), dtype="int16"), [], atol=_ANY,
           id="PermutationRNG-int16"),
    OpCase(GammaRNG(seed=4), [_POS, _POS.copy()], atol=_ANY),
    OpCase(BetaRNG(seed=5), [_POS, _POS.copy()], atol=_ANY),
    OpCase(PoissonRNG(seed=6), [_POS], atol=_ANY),
    OpCase(ShuffleRNG(seed=7), [np.arange(12, dtype=np.int32).reshape(4, 3)], atol=_ANY),
]
