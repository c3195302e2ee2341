"""Op-table cases for Elemwise (every mode) and TypeCvt."""

from __future__ import annotations

import numpy as np

from mge.ops.elemwise import ELEMWISE_MODES, Elemwise, PowC, TypeCvt

from .optable import OpCase, rand

_DOMAIN = {  # inputs inside each mode's domain
    "ACOS": (-0.9, 0.9), "ASIN": (-0.9, 0.9), "ATANH": (-0.9, 0.9), "ERFINV": (-0.9, 0.9),
    "ERFCINV": (0.1, 1.9), "ACOSH": (1.1, 3.0), "LOG": (0.1, 3.0), "LOG1P": (-0.5, 3.0),
    "SQRT": (0.0, 4.0), "POW": (0.1, 2.0), "TAN": (-1.2, 1.2),
}
_SHAPES = [(2, 3), (3, 1), (3,)]  # broadcasting: (2,3) with (3,1)->(3,3)? use compatible sets


def _inputs(mode: str, arity: int, kind: str) -> list[np.ndarray]:
    low, high = _DOMAIN.get(mode, (-3.0, 3.0))
    if kind == "logic":
        return [rand(4, 3, dtype="bool", seed=k) for k in range(arity)]
    if kind == "int":
        return [rand(4, 3, dtype="int32", low=0, high=5, seed=k) for k in range(arity)]
    shapes = [(4, 3), (1, 3), (4, 1), ()][:arity]
    xs = [rand(*s, low=low, high=high, seed=k) for k, s in enumerate(shapes)]
    if mode in ("TRUE_DIV", "FLOOR_DIV", "MOD"):
        xs[1] = np.where(np.abs(xs[1]) < 0.3, 0.7, xs[1]).astype(np.float32)
    if mode == "CLIP":
        xs = [rand(4, 3, low=-3, high=3), np.full((1, 3), -1, np.float32),
              np.full((), 1.5, np.float32)]
    return xs


CASES = [
    OpCase(Elemwise(mode=mode), _inputs(mode, arity, kind), id=f"Elemwise-{mode}", atol=2e-5,
           rtol=2e-5)
    for mode, (arity, kind) in ELEMWISE_MODES.items()
]
CASES += [
    OpCase(Elemwise(mode="ADD"), [rand(2, 0, 3), rand(1, 3)], id="ADD-zero-size"),
    OpCase(Elemwise(mode="MUL"), [rand(2, 3, dtype="int32", low=-5, high=5),
                                  rand(3, dtype="int32", low=-5, high=5)], id="MUL-int32"),
    OpCase(Elemwise(mode="FLOOR_DIV"), [np.array([7, -7, 7, -7], np.int32),
                                        np.array([2, 2, -2, -2], np.int32)], id="FLOOR_DIV-int"),
    OpCase(Elemwise(mode="MOD"), [np.array([7, -7, 7, -7], np.int32),
                                  np.array([3, 3, -3, -3], np.int32)], id="MOD-int"),
    OpCase(Elemwise(mode="ROUND"), [np.array([0.5, 1.5, -0.5, -2.5, 2.4], np.float32)],
           id="ROUND-half-away"),
    OpCase(Elemwise(mode="ROUND"), [np.array([8388609.0, 0.49999997, -0.49999997, -0.3],
                                             np.float32)], id="ROUND-exact"),
    OpCase(Elemwise(mode="ADD"), [rand(2, 3, dtype="float16"), rand(2, 3, dtype="float16")],
           id="ADD-float16", atol=1e-3),
    OpCase(PowC(exp=3.0), [rand(2, 3)], id="PowC-int-exp-negative-base"),
    OpCase(PowC(exp=-2.0), [rand(3, 4, low=0.5, high=2)], id="PowC-negative-exp"),
    OpCase(PowC(exp=0.5), [rand(2, 5)], id="PowC-sqrt-nan-for-negative"),
    OpCase(PowC(exp=2.5), [rand(2, 3, dtype="float16", low=0.1, high=2)], id="PowC-float16",
           atol=2e-3, rtol=2e-3),
    OpCase(PowC(exp=1.0), [rand(0, 3)], id="PowC-zero-size"),
    OpCase(TypeCvt(dtype="float16"), [rand(2, 3)]),
    OpCase(TypeCvt(dtype="int32"), [rand(2, 3, low=-5, high=5)], id="TypeCvt-f2i"),
    OpCase(TypeCvt(dtype="float32"), [rand(2, 3, dtype="uint8", low=0, high=255)],
           id="TypeCvt-u8"),
    OpCase(TypeCvt(dtype="bool"), [rand(2, 3, dtype="int32", low=0, high=2)], id="TypeCvt-bool"),
]
