"""MegEngine's ``FakeQuant``, ``TQT`` and ``LSQ`` ops on tensors (one op each, so traced
and dumped graphs hold the operator MegEngine writes).

The ops, their kernels, ONNX lowerings and gradient rules (MegEngine's backward kernels:
straight-through for ``round``, learned scales for TQT and LSQ) live in their home,
:mod:`mge.ops.quantized.fake_quant`.

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

from ..core.apply import apply
from ..ops.quantized import LSQ, TQT, FakeQuant
from ..tensor import Tensor


def fake_quant(inp: Tensor, scale: Tensor, zero_point: Tensor, qmin: int, qmax: int) -> Tensor:
    """``(clip(round(x / s) + zp, qmin, qmax) - zp) * s`` (MegEngine's ``FakeQuant``)."""
    return apply(FakeQuant(qmin=qmin, qmax=qmax), inp, scale, zero_point)[0]


def tqt(inp: Tensor, scale: Tensor, qmin: int, qmax: int) -> Tensor:
    """``clip(round(x / t), qmin, qmax) * t`` with ``t = 2 ** scale`` (MegEngine's ``TQT``)."""
    return apply(TQT(qmin=qmin, qmax=qmax), inp, scale)[0]


def lsq(
    inp: Tensor, step_size: Tensor, zero_point: Tensor, grad_scale: Tensor, qmin: int,
    qmax: int,
) -> Tensor:
    """``(round(clip(x / s + zp, qmin, qmax)) - zp) * s`` (MegEngine's ``LSQ``;
    ``grad_scale`` only scales the gradient of ``s``)."""
    return apply(LSQ(qmin=qmin, qmax=qmax), inp, step_size, zero_point, grad_scale)[0]


__all__ = ["fake_quant", "lsq", "tqt"]
