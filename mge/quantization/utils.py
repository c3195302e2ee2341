"""Quantization helpers: ``QParams``, ``QuantMode``, fake quantization of tensors and biases.

``fake_quant_tensor`` rounds a float tensor to the grid of its quantized dtype and back
(MegEngine's ``FakeQuant`` op: ``(clip(round(x / s) + zp, qmin, qmax) - zp) * s``, float32,
rounding half away from zero); ``tqt_forward`` and ``lsq_forward`` are the forward passes
of MegEngine's ``TQT`` and ``LSQ`` ops, each one op (:mod:`.fake_quant_ops`). Their
gradients are MegEngine's (straight-through for ``round``, learned scales for TQT and LSQ):
:mod:`mge.ops.quantized.grad_fake_quant`.

Example:
    >>> import mge
    >>> from mge.quantization.utils import QuantMode, create_qparams, fake_quant_tensor
    >>> q = create_qparams(QuantMode.SYMMERTIC, "qint8", mge.tensor(0.5))
    >>> fake_quant_tensor(mge.tensor([0.2, 0.3, 100.0]), q).numpy()
    array([ 0. ,  0.5, 63.5], dtype=float32)
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from ..core.qparams import QParams, QuantMode, create_qparams
from ..dtype import QuantDtypeMeta, _builtin_quant_dtypes, create_quantized_dtype
from ..tensor import Tensor
from .fake_quant_ops import fake_quant, lsq, tqt


def _as_float_tensor(value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value if value.dtype == np.float32 else value.astype("float32")
    return Tensor(np.asarray(value, dtype=np.float32))


def tqt_forward(qmin: int, qmax: int, inp: Tensor, scale: Tensor) -> Tensor:
    """MegEngine's ``TQT`` op: ``t = 2 ** scale``; ``clip(round(x / t), qmin, qmax) * t``
    (gradients for ``inp`` and ``scale`` as MegEngine's, see :mod:`.fake_quant_ops`)."""
    return tqt(inp, _as_float_tensor(scale), qmin, qmax)


def lsq_forward(
    qmin: int, qmax: int, inp: Tensor, step_size: Tensor, zero_point: Tensor | None = None,
    scale_grad: Tensor | None = None,
) -> Tensor:
    """MegEngine's ``LSQ`` op: ``(round(clip(x / s + zp, qmin, qmax)) - zp) * s``
    (``scale_grad`` only scales the gradient of ``step_size``; see :mod:`.fake_quant_ops`)."""
    zp = _as_float_tensor([0.0] if zero_point is None else zero_point)
    grad_scale = _as_float_tensor([1.0] if scale_grad is None else scale_grad)
    return lsq(inp, _as_float_tensor(step_size), zp, grad_scale, qmin, qmax)


class LSQParams(QParams):
    """``QParams`` of LSQ, with the gradient scale."""

    __slots__ = "mode", "dtype_meta", "scale", "zero_point", "grad_scale"

    def __init__(
        self, mode: QuantMode | None, dtype_meta: QuantDtypeMeta, scale: Tensor,
        zero_point: Tensor, grad_scale: Tensor,
    ) -> None:
        super().__init__(mode, dtype_meta, scale, zero_point)
        self.grad_scale = grad_scale


class QParamsModuleMixin(abc.ABC):
    """For modules that produce ``QParams`` (observers, TQT, LSQ): the quantized dtype."""

    def get_quantized_dtype(self) -> np.dtype:
        """The quantized numpy dtype these qparams describe (``qint8(scale)``...)."""
        qparams = self.get_qparams()
        scale = None if qparams.scale is None else float(np.asarray(qparams.scale).item())
        zp = qparams.zero_point
        zp = None if zp is None else int(np.asarray(zp).item())
        return create_quantized_dtype(qparams.dtype_meta, scale, zp)

    @abc.abstractmethod
    def get_qparams(self) -> QParams:
        """The current quantization parameters."""


def fake_quant_tensor(inp: Tensor, qparams: QParams) -> Tensor:
    """Round ``inp`` to the grid ``qparams`` describe and back to float32.

    Raises:
        ValueError: ``qparams`` without a scale or dtype family.
    """
    if qparams.scale is None or qparams.dtype_meta is None:
        raise ValueError(
            f"fake_quant_tensor: qparams need a scale and a dtype_meta, got {qparams!r}"
        )
    scale = _as_float_tensor(qparams.scale)
    if qparams.mode == QuantMode.ASYMMERTIC:
        zero_point = _as_float_tensor(qparams.zero_point)
    else:
        zero_point = Tensor([0.0], dtype=np.float32)
    meta = qparams.dtype_meta
    return fake_quant(inp, scale, zero_point, meta.qmin, meta.qmax)


def fake_quant_bias(bias: Tensor, inp: Tensor, w_qat: Tensor) -> Tensor:
    """Fake-quantize a bias to qint32 with scale ``input scale * weight scale``.

    Only when the input and the weight carry symmetric int8 qparams with scales (as
    MegEngine); otherwise ``bias`` is returned unchanged.
    """
    if bias is None:
        return bias
    inp_params = getattr(inp, "qparams", None)
    w_params = getattr(w_qat, "qparams", None)
    if inp_params is None or w_params is None:
        return bias
    if inp_params.scale is None or w_params.scale is None:
        return bias
    if inp_params.mode != QuantMode.SYMMERTIC or inp_params.mode != w_params.mode:
        return bias
    for params in (inp_params, w_params):
        if params.dtype_meta is None or params.dtype_meta.np_dtype_str != "int8":
            return bias
    b_param = create_qparams(
        w_params.mode, _builtin_quant_dtypes["qint32"],
        scale=_as_float_tensor(inp_params.scale) * _as_float_tensor(w_params.scale),
    )
    b_qat = fake_quant_tensor(bias, b_param)
    b_qat.qparams.update(b_param)
    return b_qat


__all__ = [
    "LSQParams", "QParams", "QParamsModuleMixin", "QuantMode", "create_qparams",
    "fake_quant_bias", "fake_quant_tensor", "lsq_forward", "tqt_forward",
]
