"""Observers: modules that watch tensors and derive quantization parameters (MegEngine 1.13).

``MinMaxObserver`` keeps the running min and max; ``ExponentialMovingAverageObserver``
averages them with a momentum; ``HistogramObserver`` keeps a histogram and picks the range
that minimizes the L2 quantization error; ``PassiveObserver`` holds scales set from outside
(EasyQuant). The ``Sync`` variants all-reduce each batch's min and max over the processes
of ``mge.distributed`` when distributed; in one process they equal their base classes.

Example:
    >>> import mge
    >>> from mge.quantization import MinMaxObserver
    >>> obs = MinMaxObserver()
    >>> _ = obs(mge.tensor([-1.0, 2.55]))
    >>> round(float(obs.get_qparams().scale.numpy()), 6)  # 2.55 / ((127 - -128) / 2)
    0.02
"""

from __future__ import annotations

from abc import abstractmethod
from copy import deepcopy
from typing import Any

import numpy as np

from .. import distributed as dist
from .. import functional as F
from ..distributed import functional as DF
from ..dtype import QuantDtypeMeta
from ..module import Module
from ..tensor import Tensor
from ._dtype_arg import resolve_dtype_meta
from .histogram import combine_histograms, l2_optimal_range
from .utils import QParams, QParamsModuleMixin, QuantMode, create_qparams


class Observer(Module, QParamsModuleMixin):
    """Base of observers: records statistics of what passes through ``forward``.

    Args:
        dtype: the quantized dtype to compute qparams for (name or meta).

    ``train(False)`` disables an observer and ``train(True)`` enables it, as in MegEngine.
    """

    def __init__(self, dtype: str | QuantDtypeMeta, **kwargs: Any) -> None:
        name = kwargs.pop("name", None)
        super().__init__(name=name)
        self.dtype = resolve_dtype_meta(type(self).__name__, dtype, kwargs)
        self.qmin = self.dtype.qmin
        self.qmax = self.dtype.qmax
        self.enabled = True

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    def train(self, mode: bool = True, recursive: bool = True) -> None:
        super().train(mode, recursive)
        if mode:
            self.enable()
        else:
            self.disable()

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """Observe ``x`` and return it unchanged."""


class MinMaxObserver(Observer):
    """Running min and max; scale ``max(|min|, |max|) / ((qmax - qmin) / 2)`` (symmetric) or
    ``(max - min) / (qmax - qmin)`` with a zero point (asymmetric), at least ``eps``.

    Args:
        mode: ``QuantMode.SYMMERTIC`` or ``QuantMode.ASYMMERTIC``.
        eps: the smallest scale.
        dtype: quantized dtype (name or meta).
    """

    def __init__(
        self, mode: QuantMode = QuantMode.SYMMERTIC, eps: float = 0.00001,
        dtype: str | QuantDtypeMeta = "qint8", **kwargs: Any,
    ) -> None:
        super().__init__(dtype, **kwargs)
        self.mode = mode
        self.min_val = Tensor(np.finfo(np.float32).max, dtype=np.float32)
        self.max_val = Tensor(np.finfo(np.float32).min, dtype=np.float32)
        self.scale_limit = eps

    def _calculate_qparams(self, inp_min_val: Tensor, inp_max_val: Tensor) -> QParams:
        min_val = F.minimum(0.0, inp_min_val)
        max_val = F.maximum(0.0, inp_max_val)
        if self.mode == QuantMode.SYMMERTIC:
            symmetric_max_vals = F.maximum(-min_val, max_val)
            scale = F.maximum(
                symmetric_max_vals / ((self.qmax - self.qmin) / 2), self.scale_limit
            )
            zero_point = None
        else:
            scale = F.maximum((max_val - min_val) / (self.qmax - self.qmin), self.scale_limit)
            zero_point = self.qmin - F.round(min_val / scale)
        return create_qparams(self.mode, self.dtype, scale=scale, zero_point=zero_point)

    def get_qparams(self) -> QParams:
        return self._calculate_qparams(self.min_val, self.max_val)

    def _batch_min_max(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """This batch's min and max (the Sync variants reduce them over processes)."""
        return x.min(), x.max()

    def forward(self, x_orig: Tensor) -> Tensor:
        if self.enabled:
            x_min, x_max = self._batch_min_max(x_orig.detach())
            self.min_val[...] = F.minimum(self.min_val, x_min)
            self.max_val[...] = F.maximum(self.max_val, x_max)
        return x_orig


class _SyncBatchMinMax:
    """The batch min and max of every process (``mge.distributed``'s WORLD) when
    distributed."""

    def _batch_min_max(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x_min, x_max = super()._batch_min_max(x)  # type: ignore[misc]
        if dist.is_distributed():
            x_min, x_max = DF.all_reduce_min(x_min), DF.all_reduce_max(x_max)
        return x_min, x_max


class SyncMinMaxObserver(_SyncBatchMinMax, MinMaxObserver):
    """Distributed :class:`MinMaxObserver`: each batch's min/max are all-reduced over the
    processes (in one process it observes like its base)."""


class ExponentialMovingAverageObserver(MinMaxObserver):
    """:class:`MinMaxObserver` whose min/max follow an exponential moving average.

    Args:
        momentum: weight of the old value (the first batch sets min/max directly).
        mode, eps, dtype: as :class:`MinMaxObserver`.
    """

    def __init__(
        self, momentum: float = 0.9, mode: QuantMode = QuantMode.SYMMERTIC,
        eps: float = 0.00001, dtype: str | QuantDtypeMeta = "qint8", **kwargs: Any,
    ) -> None:
        super().__init__(mode, eps, dtype, **kwargs)
        self.momentum = Tensor(momentum, dtype="float32")
        # zero for the first batch, ``momentum`` after it
        self.runtime_momentum = Tensor(0.0)

    def set_momentum(self, momentum: float) -> None:
        self.momentum = Tensor(momentum, dtype="float32")

    def forward(self, x_orig: Tensor) -> Tensor:
        if self.enabled:
            x_min, x_max = self._batch_min_max(x_orig.detach())
            m = self.runtime_momentum
            self.min_val[...] = self.min_val * m + (1 - m) * x_min
            self.max_val[...] = self.max_val * m + (1 - m) * x_max
            self.runtime_momentum[...] = self.momentum
        return x_orig


class SyncExponentialMovingAverageObserver(_SyncBatchMinMax, ExponentialMovingAverageObserver):
    """Distributed :class:`ExponentialMovingAverageObserver`: each batch's min/max are
    all-reduced over the processes before the average."""


class HistogramObserver(MinMaxObserver):
    """:class:`MinMaxObserver` that keeps a running histogram and, for qparams, narrows the
    range to the one with the least L2 quantization error (for calibration).

    Args:
        bins: histogram bins.
        upsample_rate: interpolation factor when merging histograms of different ranges.
        mode, eps, dtype: as :class:`MinMaxObserver`.
    """

    def __init__(
        self, bins: int = 2048, upsample_rate: int = 128,
        mode: QuantMode = QuantMode.SYMMERTIC, eps: float = 0.00001,
        dtype: str | QuantDtypeMeta = "qint8", **kwargs: Any,
    ) -> None:
        super().__init__(mode, eps, dtype, **kwargs)
        self.bins = bins
        self.upsample_rate = upsample_rate
        self.dst_nbins = self.dtype.qmax - self.dtype.qmin + 1
        self.histogram = Tensor([-1] + [0.0] * (bins - 1), dtype="float32")

    def get_qparams(self) -> QParams:
        min_val = self.min_val.numpy()
        max_val = self.max_val.numpy()
        start_bin, end_bin = l2_optimal_range(self.histogram.numpy(), self.dst_nbins)
        bin_width = (max_val - min_val) / self.bins
        new_min = self.min_val + Tensor(bin_width * start_bin, dtype=np.float32)
        new_max = self.min_val + Tensor(bin_width * (end_bin + 1), dtype=np.float32)
        return self._calculate_qparams(new_min, new_max)

    def sideeffect_forward(self, x_orig: Tensor) -> None:
        """Merge ``x_orig`` into the histogram (numpy; no graph is recorded)."""
        x = x_orig.numpy()
        min_val, max_val = self.min_val.numpy(), self.max_val.numpy()
        histogram = self.histogram.numpy()
        new_min, new_max = x.min(), x.max()
        if histogram[0] == -1:
            new_histogram, _ = np.histogram(x, self.bins, (new_min, new_max))
        else:
            new_min, new_max = min(new_min, min_val), max(new_max, max_val)
            new_histogram, new_min, new_max = combine_histograms(
                histogram, x, min_val, max_val, new_min, new_max,
                self.bins, self.upsample_rate,
            )
        self.histogram = Tensor(new_histogram, dtype="float32")
        self.min_val = Tensor(new_min, dtype="float32")
        self.max_val = Tensor(new_max, dtype="float32")

    def forward(self, x_orig: Tensor) -> Tensor:
        self.sideeffect_forward(x_orig)
        return x_orig


class PassiveObserver(Observer):
    """An observer whose qparams are set from outside (``set_qparams``, EasyQuant)."""

    def __init__(self, dtype: str | QuantDtypeMeta, **kwargs: Any) -> None:
        super().__init__(dtype, **kwargs)
        self.qparams: QParams | None = None
        self.orig_scale: np.ndarray | None = None

    def _require_qparams(self) -> QParams:
        if self.qparams is None:
            raise ValueError(f"{type(self).__name__}: set_qparams() has not been called")
        return self.qparams

    @property
    def scale(self) -> Tensor:
        return self._require_qparams().scale

    @scale.setter
    def scale(self, value: Any) -> None:
        if not np.all(np.asarray(value) > 0):
            raise ValueError(f"{type(self).__name__}: scale must be positive, got {value}")
        self._require_qparams().scale[...] = Tensor(value)

    def get_qparams(self) -> QParams | None:
        return self.qparams

    def set_qparams(self, qparams: QParams) -> None:
        """Take a copy of ``qparams`` (it needs a scale; its dtype must be this one's)."""
        self.qparams = deepcopy(qparams)
        if qparams.scale is None:
            raise AssertionError("Can not get an initialized scale")
        if qparams.dtype_meta is None:
            qparams.dtype_meta = self.dtype
        else:
            assert qparams.dtype_meta is self.dtype, (
                "input qparams' dtype is not equal to self.dtype.\n"
                f"qparams.dtype_meta={qparams.dtype_meta}\nself.dtype={self.dtype}"
            )
        self.orig_scale = qparams.scale.numpy()

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x``: the qparams are set by :func:`~.apply_easy_quant`."""
        return x


__all__ = [
    "ExponentialMovingAverageObserver", "HistogramObserver", "MinMaxObserver", "Observer",
    "PassiveObserver", "SyncExponentialMovingAverageObserver", "SyncMinMaxObserver",
]
