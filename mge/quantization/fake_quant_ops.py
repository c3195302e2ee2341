"""The forwards of MegEngine's ``FakeQuant``, ``TQT`` and ``LSQ`` ops with their gradients.

The forwards are composed of ``Elemwise`` ops (so traced and dumped graphs hold ops every
runtime has), and ``round`` has no gradient; the backward of each is MegEngine's own
(``dnn/src/naive/{fake_quant,tqt,lsq}``), given to autodiff with
:func:`~mge.core.autodiff.function.call_with_rule`:

- ``FakeQuant(x, s, zp)``: ``dx = dy`` where ``qmin <= round(x / s) + zp <= qmax``, else 0
  (a straight-through estimator); no gradient for ``s`` and ``zp``.
- ``TQT(x, s)`` (``t = 2 ** s``, ``v = x / t``): ``dx = dy`` where
  ``qmin - 0.5 <= v <= qmax + 0.5``; ``ds = sum(dy * (q - v or q) * t * ln 2)`` with
  ``q`` the clipped ``round(v)`` (``q - v`` inside that range, ``q`` outside).
- ``LSQ(x, s, zp, g)`` (``v = x / s + zp``): ``dx = dy`` where ``qmin <= v <= qmax``;
  ``ds = sum(dy * g * (qmin below, qmax above, round(v) - v inside))``; none for ``zp``, ``g``.

``ds`` is summed to the shape of ``s`` (a per-tensor or per-channel scale).

Example:
    >>> import mge
    >>> from mge.core.autodiff import Grad
    >>> x, s = mge.tensor([0.2, 3.0, -9.0]), mge.tensor([1.0])
    >>> got = []
    >>> with Grad() as g:
    ...     _ = g.wrt(x, callback=got.append)
    ...     g(fake_quant(x, s, mge.tensor([0.0]), -4, 4), mge.tensor([1.0, 1.0, 1.0]))
    >>> got[0].numpy()
    array([1., 1., 0.], dtype=float32)
"""

from __future__ import annotations

import math

from .. import functional as F
from ..core.autodiff.context import GradContext
from ..core.autodiff.function import call_with_rule
from ..tensor import Tensor

_LN2 = math.log(2.0)


def _mask(cond: Tensor) -> Tensor:
    return cond.astype("float32")


def fake_quant(inp: Tensor, scale: Tensor, zero_point: Tensor, qmin: int, qmax: int) -> Tensor:
    """``(clip(round(x / s) + zp, qmin, qmax) - zp) * s`` (MegEngine's ``FakeQuant``)."""

    def forward() -> Tensor:
        q = F.clip(F.round(inp / scale) + zero_point, float(qmin), float(qmax))
        return (q - zero_point) * scale

    def rule(ctx: GradContext) -> list[Tensor | None]:
        if not ctx.needs(0):
            return [None, None, None]
        x, s, zp = ctx.inputs[:3]
        q = F.round(x / s) + zp
        inside = F.logical_and(q >= float(qmin), q <= float(qmax))
        return [ctx.sum_to(ctx.grad(0) * _mask(inside), x.shape), None, None]

    return call_with_rule(forward, (inp, scale, zero_point), rule, name="FakeQuant")


def tqt(inp: Tensor, scale: Tensor, qmin: int, qmax: int) -> Tensor:
    """``clip(round(x / t), qmin, qmax) * t`` with ``t = 2 ** scale`` (MegEngine's ``TQT``)."""

    def forward() -> Tensor:
        t = F.pow(2.0, scale)
        return F.clip(F.round(inp / t), float(qmin), float(qmax)) * t

    def rule(ctx: GradContext) -> list[Tensor | None]:
        x, s = ctx.inputs[:2]
        dy = ctx.grad(0)
        t = F.pow(2.0, s)
        v = x / t
        q = F.clip(F.round(v), float(qmin), float(qmax))
        clipped = _mask(F.logical_or(v < qmin - 0.5, v > qmax + 0.5))
        kept = 1.0 - clipped
        dx = ctx.sum_to(dy * kept, x.shape) if ctx.needs(0) else None
        ds = None
        if ctx.needs(1):
            ds = ctx.sum_to(dy * (kept * (q - v) + clipped * q) * t * _LN2, s.shape)
        return [dx, ds]

    return call_with_rule(forward, (inp, scale), rule, name="TQT")


def lsq(
    inp: Tensor, step_size: Tensor, zero_point: Tensor, grad_scale: Tensor, qmin: int,
    qmax: int,
) -> Tensor:
    """``(round(clip(x / s + zp, qmin, qmax)) - zp) * s`` (MegEngine's ``LSQ``;
    ``grad_scale`` only scales the gradient of ``s``)."""

    def forward() -> Tensor:
        q = F.round(F.clip(inp / step_size + zero_point, float(qmin), float(qmax)))
        return (q - zero_point) * step_size

    def rule(ctx: GradContext) -> list[Tensor | None]:
        x, s, zp, g = ctx.inputs[:4]
        dy = ctx.grad(0)
        v = x / s + zp
        below, above = _mask(v < float(qmin)), _mask(v > float(qmax))
        inside = 1.0 - below - above
        dx = ctx.sum_to(dy * inside, x.shape) if ctx.needs(0) else None
        ds = None
        if ctx.needs(1):
            ds_each = below * float(qmin) + above * float(qmax) + inside * (F.round(v) - v)
            ds = ctx.sum_to(ds_each * g * dy, s.shape)
        return [dx, ds, None, None]

    return call_with_rule(forward, (inp, step_size, zero_point, grad_scale), rule, name="LSQ")


__all__ = ["fake_quant", "lsq", "tqt"]
