"""Op-table cases for FakeQuant, TQT and LSQ: per-tensor and per-channel parameters,
asymmetric zero points, codes beyond the range, and exact ties (``x / s = k + 0.5``)."""

from __future__ import annotations

import numpy as np

from mge.ops.quantized import LSQ, TQT, FakeQuant

from .optable import OpCase, rand

_X = rand(2, 3, 4, 5, seed=11, low=-6, high=6)
#: ``x / 0.5`` is ``k + 0.5`` for every element: every rounding is a tie
_TIES = (np.arange(-12, 12, dtype=np.float32) * 0.5 + 0.25).reshape(2, 3, 4)
_S1 = np.array([0.05], np.float32)
_SC = np.array([0.02, 0.05, 0.5], np.float32).reshape(1, 3, 1, 1)
_ZP1 = np.array([3.0], np.float32)
_ZPC = np.array([0.0, 5.0, -2.0], np.float32).reshape(1, 3, 1, 1)
_HALF, _ZERO, _ONE = (np.array([v], np.float32) for v in (0.5, 0.0, 1.0))

CASES = [
    OpCase(FakeQuant(qmin=-128, qmax=127), [_X, _S1, _ZERO], id="FakeQuant-tensor-sym"),
    OpCase(FakeQuant(qmin=0, qmax=255), [_X, _S1, _ZP1], id="FakeQuant-tensor-asym"),
    OpCase(FakeQuant(qmin=-8, qmax=7), [_X, _SC, _ZPC], id="FakeQuant-channel-qint4"),
    OpCase(FakeQuant(qmin=-127, qmax=127), [_TIES, _HALF, _ZERO], id="FakeQuant-ties"),
    OpCase(TQT(qmin=-127, qmax=127), [_X, np.array([-4.0], np.float32)], id="TQT-tensor"),
    OpCase(TQT(qmin=-128, qmax=127), [_X, np.log2(_SC).astype(np.float32) - 0.3],
           id="TQT-channel"),
    OpCase(TQT(qmin=-127, qmax=127), [_TIES, np.array([-1.0], np.float32)], id="TQT-ties"),
    OpCase(LSQ(qmin=-128, qmax=127), [_X, _S1, _ZERO, _ONE], id="LSQ-tensor"),
    OpCase(LSQ(qmin=0, qmax=15), [_X, _SC, _ZPC, _SC], id="LSQ-channel-asym"),
    OpCase(LSQ(qmin=-127, qmax=127), [_TIES, _HALF, _ZERO, _ONE], id="LSQ-ties"),
]
