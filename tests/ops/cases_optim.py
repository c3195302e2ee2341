"""Op-table cases for LAMBUpdate (the fused LAMB step: adapted, plain, float16 grads)."""

from __future__ import annotations

from mge.ops.optim import LAMBUpdate

from .optable import OpCase, rand

_M, _P, _G = rand(4, 5, seed=1), rand(4, 5, seed=2), rand(4, 5, seed=3)
_V = rand(4, 5, seed=4, low=0, high=2)

CASES = [
    OpCase(LAMBUpdate(0.9, 0.999, 3.0, 1e-2, 0.4, 1e-8, True, False), [_M, _V, _P, _G],
           id="LAMBUpdate-weight-decay"),
    OpCase(LAMBUpdate(0.9, 0.999, 1.0, 1e-2, 0.0, 1e-8, False, True), [_M, _V, _P, _G],
           id="LAMBUpdate-always-adapt-no-bias-correction"),
    OpCase(LAMBUpdate(0.8, 0.99, 2.0, 0.1, 0.0, 1e-6, True, False), [_M, _V, _P, _G],
           id="LAMBUpdate-no-trust-ratio"),
    OpCase(LAMBUpdate(0.9, 0.999, 5.0, 1e-3, 0.1, 1e-8, True, False),
           [_M, _V, _P, _G.astype("float16")], id="LAMBUpdate-float16-grad", atol=1e-4),
]
