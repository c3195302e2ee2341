"""``MSEActivationObserver``: a per-tensor symmetric activation scale that minimizes the
squared int8 error of the values seen in calibration (mge's own; MegEngine 1.13 has the
min/max, EMA and histogram observers).

``HistogramObserver`` searches its L2-optimal range as if the range held all
``qmax - qmin + 1`` levels, but a symmetric int8 scale spends half of them on the side a
ReLU6 output never reaches and clips the other side at ``qmax`` (127, not 127.5). This
observer keeps the same running histogram and scores each candidate scale ``s = r *
max|x| / ((qmax - qmin) / 2)`` (``r`` on a grid in ``[lowest, 1]``) by
``sum(count * (x - clip(round(x / s), qmin, qmax) * s) ** 2)`` over the histogram, each
bin spread over ``subdiv`` evenly placed points, and ``max|x| / qmax`` too (it keeps a
ReLU6's saturated 6.0 exact: code 127); it picks the scale with the least error.
The result is one scale per tensor, MegEngine's int8 format.

Example:
    >>> import numpy as np, mge
    >>> from mge.quantization.mse_activation import MSEActivationObserver
    >>> obs = MSEActivationObserver()
    >>> x = np.random.default_rng(0).standard_t(3, 20000).astype("float32")  # heavy tails
    >>> _ = obs(mge.tensor(x))
    >>> bool(obs.get_qparams().scale.numpy() < np.abs(x).max() / 127.5)  # clipped
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtype import QuantDtypeMeta
from ..tensor import Tensor
from .mse_observer import least_error_scale
from .observer import HistogramObserver
from .utils import QParams, QuantMode, create_qparams


def histogram_mse_scale(histogram: np.ndarray, lo: float, hi: float, qmin: int, qmax: int,
                        grid: int = 100, lowest: float = 0.3, subdiv: int = 8) -> float:
    """The symmetric scale ``max(|lo|, |hi|) / qmax`` or ``r * max(|lo|, |hi|) / ((qmax -
    qmin) / 2)`` (``r`` among ``grid + 1`` steps from 1 down to ``lowest``) with the least
    squared quantization error of the values ``histogram`` counts over ``[lo, hi]`` (0.0
    when the range is 0)."""
    counts = np.asarray(histogram, dtype=np.float64)
    top = max(-float(lo), float(hi), 0.0)
    if top == 0.0 or counts.sum() <= 0:
        return 0.0
    width = (float(hi) - float(lo)) / len(counts)
    offsets = (np.arange(subdiv) + 0.5) / subdiv
    points = (float(lo) + (np.arange(len(counts))[:, None] + offsets) * width).reshape(-1)
    weights = np.repeat(counts / subdiv, subdiv)
    keep = weights > 0
    points, weights = points[keep], weights[keep]
    candidates = [top / qmax] + [r * top / ((qmax - qmin) / 2)
                                 for r in np.linspace(1.0, lowest, grid + 1)]
    return candidates[least_error_scale(points, weights, candidates, qmin, qmax)]


class MSEActivationObserver(HistogramObserver):
    """:class:`HistogramObserver` whose symmetric scale minimizes the squared int8 error over
    the calibration histogram (mge's own; for activations).

    Args:
        grid: clipping ratios tried between ``lowest`` and 1.
        lowest: the smallest fraction of ``max|x|`` the range may be clipped to.
        subdiv: points each histogram bin is spread over when scoring a scale.
        bins, upsample_rate, eps, dtype: as :class:`HistogramObserver` (symmetric only).

    Raises:
        ValueError: ``grid < 1``, ``lowest`` outside ``(0, 1]`` or ``subdiv < 1``.
    """

    def __init__(self, grid: int = 100, lowest: float = 0.3, subdiv: int = 8,
                 eps: float = 0.00001, dtype: str | QuantDtypeMeta = "qint8",
                 **kwargs: Any) -> None:
        super().__init__(mode=QuantMode.SYMMERTIC, eps=eps, dtype=dtype, **kwargs)
        if grid < 1 or not 0.0 < lowest <= 1.0 or subdiv < 1:
            raise ValueError(f"MSEActivationObserver: need grid >= 1, 0 < lowest <= 1 and "
                             f"subdiv >= 1, got grid={grid}, lowest={lowest}, "
                             f"subdiv={subdiv}")
        self.grid, self.lowest, self.subdiv = grid, lowest, subdiv

    def forward(self, x_orig: Tensor) -> Tensor:
        if self.enabled:
            self.sideeffect_forward(x_orig.detach())
        return x_orig

    def get_qparams(self) -> QParams:
        histogram = self.histogram.numpy()
        if histogram[0] == -1:
            raise ValueError("MSEActivationObserver: get_qparams() before any calibration "
                             "batch was observed")
        scale = histogram_mse_scale(histogram, float(self.min_val.numpy()),
                                    float(self.max_val.numpy()), self.qmin, self.qmax,
                                    self.grid, self.lowest, self.subdiv)
        return create_qparams(self.mode, self.dtype,
                              scale=Tensor(np.float32(max(scale, self.scale_limit))))


__all__ = ["MSEActivationObserver", "histogram_mse_scale"]
