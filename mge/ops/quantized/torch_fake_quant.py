"""torch kernels of ``FakeQuant``, ``TQT`` and ``LSQ`` (:mod:`.fake_quant`): the numpy
kernels' float32 steps on the device (``round`` as C's ``roundf``, ``2 ** scale`` in
double).

Example:
    >>> FakeQuant.kernels["torch"] is fake_quant
    True
"""

from __future__ import annotations

import torch

from ..elemwise.torch_kernels import round_half_away
from ..registry import TORCH
from .fake_quant import LSQ, TQT, FakeQuant


def _clip(x: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    """``clamp`` to ``[qmin, qmax]`` (NaN stays NaN, as with MegEngine's two comparisons)."""
    return x.clamp(float(qmin), float(qmax))


@TORCH.kernel(FakeQuant)
def fake_quant(op: FakeQuant, x: torch.Tensor, scale: torch.Tensor,
               zero_point: torch.Tensor) -> torch.Tensor:
    q = _clip(round_half_away(x / scale) + zero_point, op.qmin, op.qmax)
    return (q - zero_point) * scale


@TORCH.kernel(TQT)
def tqt(op: TQT, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    t = torch.pow(2.0, scale.double()).float()
    return _clip(round_half_away(x / t), op.qmin, op.qmax) * t


@TORCH.kernel(LSQ)
def lsq(op: LSQ, x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor,
        grad_scale: torch.Tensor) -> torch.Tensor:
    q = round_half_away(_clip(x / scale + zero_point, op.qmin, op.qmax))
    return (q - zero_point) * scale
