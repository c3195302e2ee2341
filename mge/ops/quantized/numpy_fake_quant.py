"""numpy kernels of ``FakeQuant``, ``TQT`` and ``LSQ`` (:mod:`.fake_quant`): MegEngine's
naive kernels step by step in float32 (``round`` as C's ``roundf``, ``2 ** scale`` in
double), the parameters broadcast to the input.

Example:
    >>> x = np.array([0.25, 0.75, 100.0, np.nan], np.float32)
    >>> one, zero = np.ones(1, np.float32) * 0.5, np.zeros(1, np.float32)
    >>> fake_quant(FakeQuant(qmin=-4, qmax=4), x, one, zero).tolist()
    [0.5, 1.0, 2.0, nan]
"""

from __future__ import annotations

import numpy as np

from ...dtype import round_half_away
from ..registry import NUMPY
from .fake_quant import LSQ, TQT, FakeQuant


def _clip(x: np.ndarray, qmin: int, qmax: int) -> np.ndarray:
    """``x <= qmin ? qmin : x``, then ``x >= qmax ? qmax : x`` in float32 (NaN stays)."""
    return np.clip(x, np.float32(qmin), np.float32(qmax)).astype(np.float32, copy=False)


@NUMPY.kernel(FakeQuant)
def fake_quant(op: FakeQuant, x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray
               ) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        q = _clip(round_half_away(x / scale) + zero_point, op.qmin, op.qmax)
        return ((q - zero_point) * scale).astype(np.float32, copy=False)


def tqt_step(scale: np.ndarray) -> np.ndarray:
    """``t = 2 ** scale`` as MegEngine computes it (``pow(2, float)`` in double)."""
    return np.power(2.0, scale.astype(np.float64)).astype(np.float32)


@NUMPY.kernel(TQT)
def tqt(op: TQT, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    t = tqt_step(scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (_clip(round_half_away(x / t), op.qmin, op.qmax) * t).astype(np.float32,
                                                                          copy=False)


@NUMPY.kernel(LSQ)
def lsq(op: LSQ, x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray,
        grad_scale: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        q = round_half_away(_clip(x / scale + zero_point, op.qmin, op.qmax))
        return ((q - zero_point) * scale).astype(np.float32, copy=False)
