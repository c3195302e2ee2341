"""Fake quantization modules: ``FakeQuantize``, ``TQT`` and ``LSQ`` (MegEngine 1.13).

A fake-quantize module rounds its input to the grid of a quantized dtype and back, so
that a float network sees the error quantization will introduce. ``FakeQuantize`` takes
its scale from an observer's qparams; ``TQT`` and ``LSQ`` learn theirs.

Example:
    >>> import mge
    >>> from mge.quantization import FakeQuantize, MinMaxObserver
    >>> obs, fq = MinMaxObserver(), FakeQuantize("qint8")
    >>> x = obs(mge.tensor([0.0, 0.51, 2.55]))  # scale 2.55 / 127.5 = 0.02
    >>> fq(x, obs.get_qparams()).numpy()
    array([0.  , 0.52, 2.54], dtype=float32)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..dtype import QuantDtypeMeta
from ..module import Module
from ..tensor import Parameter, Tensor
from ._dtype_arg import resolve_dtype_meta
from .utils import (
    LSQParams,
    QParams,
    QParamsModuleMixin,
    QuantMode,
    create_qparams,
    fake_quant_tensor,
    lsq_forward,
    tqt_forward,
)


class _FakeQuantize(Module):
    """Base: ``forward`` fake-quantizes when enabled and passes the input through otherwise."""

    def __init__(self, dtype: str | QuantDtypeMeta, enable: bool = True, **kwargs: Any) -> None:
        name = kwargs.pop("name", None)
        super().__init__(name=name)
        self.dtype = resolve_dtype_meta(type(self).__name__, dtype, kwargs)
        self.qmin = self.dtype.qmin
        self.qmax = self.dtype.qmax
        self.enabled = enable

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    def fake_quant_forward(self, inp: Tensor, qparams: QParams | None = None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement fake_quant_forward")

    def normal_forward(self, inp: Tensor, qparams: QParams | None = None) -> Tensor:
        return inp

    def forward(self, inp: Tensor, qparams: QParams | None = None) -> Tensor:
        if self.enabled:
            return self.fake_quant_forward(inp, qparams=qparams)
        return self.normal_forward(inp, qparams=qparams)


class FakeQuantize(_FakeQuantize):
    """Quantize and dequantize with the scale and zero point of the given qparams.

    Args:
        dtype: a builtin name (``"qint8"``, ``"qint8_narrow"``, ``"quint8"``, ``"qint4"``...)
            or a :class:`~mge.dtype.QuantDtypeMeta`.
        enable: fake-quantize (True) or pass through (False).

    Raises:
        AssertionError: (at call) qparams of another dtype family, as MegEngine.
        ValueError: (at call) qparams without a scale.
    """

    def fake_quant_forward(self, inp: Tensor, qparams: QParams | None = None) -> Tensor:
        if qparams is None:
            raise ValueError(
                f"{type(self).__name__}({self.dtype.name}) needs qparams from an observer"
            )
        assert qparams.dtype_meta is self.dtype, (
            "input qparams' dtype is not equal to self.dtype.\n"
            f"qparams.dtype_meta={qparams.dtype_meta}\nself.dtype={self.dtype}"
        )
        return fake_quant_tensor(inp, qparams)


class TQT(_FakeQuantize, QParamsModuleMixin):
    """TQT (https://arxiv.org/abs/1903.08066): a learned power-of-two threshold; the
    parameter ``scale`` is ``log2`` of the quantization step.

    Args:
        dtype: target quantized dtype (name or meta).
        enable: fake-quantize (True) or pass through (False).
    """

    def __init__(self, dtype: str | QuantDtypeMeta, enable: bool = True, **kwargs: Any) -> None:
        super().__init__(dtype, enable, **kwargs)
        self.scale = Parameter(0.0, dtype="float32")

    def fake_quant_forward(self, inp: Tensor, qparams: QParams | None = None) -> Tensor:
        return tqt_forward(self.qmin, self.qmax, inp, self.scale)

    def set_qparams(self, qparams: QParams) -> None:
        """Start from an observer's symmetric scale (``scale = log2(step)``)."""
        assert qparams.mode == QuantMode.SYMMERTIC, (
            "only symmetric quantization is supported by TQT"
        )
        if qparams.scale is None:
            raise AssertionError("Can not get an initialized scale")
        self.scale[...] = F.log(Tensor(qparams.scale, dtype="float32")) / math.log(2)

    def get_qparams(self) -> QParams:
        return create_qparams(QuantMode.SYMMERTIC, self.dtype, scale=F.pow(2.0, self.scale))


class LSQ(_FakeQuantize, QParamsModuleMixin):
    """LSQ (https://arxiv.org/pdf/1902.08153.pdf): a learned step size.

    Args:
        dtype: target quantized dtype (name or meta).
        enable: fake-quantize (True) or pass through (False).
        eps: keeps the step size positive (``|step| + eps``).
    """

    def __init__(
        self, dtype: str | QuantDtypeMeta, enable: bool = True, eps: float = 1e-5,
        **kwargs: Any,
    ) -> None:
        super().__init__(dtype=dtype, enable=enable, **kwargs)
        self.eps = Tensor(eps, dtype="float32")
        self.step_size = Parameter(1.0, dtype="float32")
        self.mode: QuantMode | None = None
        self.zero_point = Tensor(0.0, dtype="float32")
        self.grad_scale = Tensor(1.0, dtype="float32")

    def set_qparams(self, qparams: QParams) -> None:
        """Start from an observer's scale (and zero point when asymmetric)."""
        self.mode = qparams.mode
        if qparams.mode == QuantMode.ASYMMERTIC:
            self.zero_point = Tensor(qparams.zero_point, dtype="float32")
        else:
            self.zero_point = Tensor(0.0, dtype="float32")
        if qparams.scale is None:
            raise AssertionError("Can not get an initialized scale")
        init = float(np.asarray(Tensor(qparams.scale, dtype="float32").numpy()).item())
        eps = float(self.eps.item())
        self.step_size = Parameter(0.0 if init < eps else init - eps, dtype="float32")
        if isinstance(qparams, LSQParams):
            self.grad_scale = qparams.grad_scale

    def fake_quant_forward(self, inp: Tensor, qparams: QParams | None = None) -> Tensor:
        step_size = F.abs(self.step_size) + self.eps
        return lsq_forward(self.qmin, self.qmax, inp, step_size, self.zero_point, self.grad_scale)

    def get_qparams(self) -> LSQParams:
        return LSQParams(
            mode=self.mode, dtype_meta=self.dtype,
            scale=F.abs(self.step_size.detach()) + self.eps,
            zero_point=self.zero_point, grad_scale=self.grad_scale,
        )


__all__ = ["LSQ", "TQT", "FakeQuantize"]
