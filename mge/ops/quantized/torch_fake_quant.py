"""torch kernels of ``FakeQuant``, ``TQT`` and ``LSQ`` (:mod:`.fake_quant`): the numpy
kernels' float32 steps on the device (``round`` as C's ``roundf``, ``2 ** scale`` in
double).

Example:
    >>> FakeQuant.kernels["torch"] is fake_quant
    True
"""

from __future__ import annotations

import torch

from ..registry import TORCH
from .fake_quant import LSQ, TQT, FakeQuant


def _round(x: torch.Tensor) -> torch.Tensor:
    """C's ``roundf``: ties away from zero, exactly."""
    t = torch.trunc(x)
    return t + torch.copysign(((x - t).abs() >= 0.5).to(x.dtype), x)


def _clip(x: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    """``clamp`` to ``[qmin, qmax]`` (NaN stays NaN, as with MegEngine's two comparisons)."""
    return x.clamp(float(qmin), float(qmax))


@TORCH.kernel(FakeQuant)
def fake_quant(op: FakeQuant, x: torch.Tensor, scale: torch.Tensor,
               zero_point: torch.Tensor) -> torch.Tensor:
    q = _clip(_round(x / scale) + zero_point, op.qmin, op.qmax)
    return (q - zero_point) * scale


@TORCH.kernel(TQT)
def tqt(op: TQT, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    t = torch.pow(2.0, scale.double()).float()
    return _clip(_round(x / t), op.qmin, op.qmax) * t


@TORCH.kernel(LSQ)
def lsq(op: LSQ, x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor,
        grad_scale: torch.Tensor) -> torch.Tensor:
    q = _round(_clip(x / scale + zero_point, op.qmin, op.qmax))
    return (q - zero_point) * scale
