"""Batch normalisation modules (MegEngine 1.13: momentum 0.9, ``(1, C, 1, 1)`` state).

``weight``/``bias`` (Parameters) and ``running_mean``/``running_var`` (buffers) are
kept as ``(1, C, 1, 1)`` tensors; ``state_dict()`` reports them as ``(C,)`` and
``load_state_dict`` accepts either shape, as MegEngine does. The running statistics
update as ``running = momentum * running + (1 - momentum) * batch`` in training.

Example:
    >>> import mge.module as M
    >>> bn = M.BatchNorm2d(4)
    >>> bn.running_var.shape, bn.state_dict()["running_var"].shape
    ((1, 4, 1, 1), (4,))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import distributed as dist
from .. import functional as F
from ..tensor import Parameter, Tensor
from . import init
from .module import Module


class _BatchNorm(Module):
    """Shared implementation; subclasses fix the accepted input ranks."""

    _flat_state = True
    _ranks: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.9,
        affine: bool = True,
        track_running_stats: bool = True,
        freeze: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if freeze and not track_running_stats:
            raise ValueError("track_running_stats must be initilized to True if freeze is True")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.freeze = freeze
        shape = (1, num_features, 1, 1)
        self.weight = Parameter(np.ones(shape, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(shape, np.float32)) if affine else None
        self.running_mean = Tensor(np.zeros(shape, np.float32)) if track_running_stats else None
        self.running_var = Tensor(np.ones(shape, np.float32)) if track_running_stats else None

    def reset_running_stats(self) -> None:
        """Running mean to 0 and running variance to 1."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)

    def reset_parameters(self) -> None:
        """Running statistics reset, weight to 1, bias to 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, inp: Tensor) -> Tensor:
        if inp.ndim not in self._ranks or inp.shape[1] != self.num_features:
            ranks = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(
                f"{self!r}: expected {ranks} input with {self.num_features} channels on axis 1, "
                f"got shape {tuple(inp.shape)}"
            )
        if self.track_running_stats and self.running_mean is None:
            raise ValueError(
                f"{type(self).__name__}: track_running_stats can not be initilized to False "
                "and changed to True later"
            )
        stats = self.running_mean is not None and self.track_running_stats
        # freeze: normalise with the running statistics and leave them untouched
        training = (self.training and not self.freeze) or not stats
        weight, bias = self.weight, self.bias
        if self.freeze and self.affine:  # frozen: no gradients for weight and bias either
            weight, bias = weight.detach(), bias.detach()
        return F.batch_norm(
            inp,
            self.running_mean if stats else None,
            self.running_var if stats else None,
            weight,
            bias,
            training=training,
            momentum=self.momentum if self.training and stats else 0.0,
            eps=self.eps,
        )

    def _module_info_string(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over ``(N, C)`` or ``(N, C, L)`` inputs.

    Example:
        >>> import numpy as np, mge, mge.module as M
        >>> M.BatchNorm1d(3)(mge.tensor(np.ones((2, 3), "float32"))).shape
        (2, 3)
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over ``(N, C, H, W)`` inputs (per channel C).

    Args:
        num_features: C.
        eps: added to the variance for numerical stability.
        momentum: weight of the old running statistics in their update.
        affine: learnable ``weight`` and ``bias``.
        track_running_stats: keep running statistics (else always use batch statistics).
        freeze: normalise with the running statistics even in training, without updating.

    Example:
        >>> import numpy as np, mge, mge.module as M
        >>> bn = M.BatchNorm2d(2)
        >>> bn.eval()
        >>> round(float(bn(mge.tensor(np.ones((1, 2, 2, 2), "float32"))).numpy().max()), 4)
        1.0
    """

    _ranks = (4,)


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation whose statistics span every process of ``group``.

    In training while distributed (``mge.distributed``), the per-channel count, sum and
    sum of squares of all processes' batches are all-reduced, so every process normalises
    with the statistics of the whole (concatenated) batch; otherwise it is
    :class:`BatchNorm2d`. Accepts ``(N, C)``, ``(N, C, L)`` and ``(N, C, H, W)`` inputs.

    Example:
        >>> import numpy as np, mge, mge.module as M
        >>> M.SyncBatchNorm(3)(mge.tensor(np.ones((2, 3, 4), "float32"))).shape
        (2, 3, 4)
    """

    _ranks = (2, 3, 4)

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.9, affine: bool = True,
        track_running_stats: bool = True, freeze: bool = False, group: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, freeze,
                         **kwargs)
        self.group = group

    def forward(self, inp: Tensor) -> Tensor:
        if not (dist.is_distributed() and self.training and not self.freeze):
            return super().forward(inp)
        if inp.ndim not in self._ranks or inp.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected 2D, 3D or 4D input with {self.num_features} "
                             f"channels on axis 1, got shape {tuple(inp.shape)}")
        shape = tuple(inp.shape)
        x = inp.reshape(shape + (1,) * (4 - len(shape)))
        stats = self.track_running_stats and self.running_mean is not None
        out = dist.sync_batch_norm(
            x, self.running_mean if stats else None, self.running_var if stats else None,
            self.weight, self.bias, training=True, momentum=self.momentum, eps=self.eps,
            group=dist.WORLD if self.group is None else self.group)
        return out.reshape(shape)


__all__ = ["BatchNorm1d", "BatchNorm2d", "SyncBatchNorm"]
