"""``QATModule``: the base of quantization-aware modules (MegEngine 1.13).

A QAT module computes like its float module, but passes its weight (and bias) and its
output through the observers and fake-quantize modules its ``QConfig`` makes, so training
and calibration see quantization error and collect the scales that ``quantize`` uses.

Example:
    >>> import mge, mge.module.qat as QAT
    >>> from mge.quantization import min_max_fakequant_qconfig
    >>> stub = QAT.QuantStub()
    >>> stub.set_qconfig(min_max_fakequant_qconfig)
    >>> _ = stub(mge.tensor([0.0, 1.27]))
    >>> stub.get_activation_dtype().metadata["mgb_dtype"]["name"]
    'QuantizedS8'
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from ...dtype import dtype_name, is_quantize
from ...quantization.fake_quant import FakeQuantize
from ...quantization.observer import Observer
from ...quantization.qconfig import QConfig
from ...quantization.utils import QParams, fake_quant_bias
from ...tensor import Tensor
from ..module import Module


def _tensors(values: Any) -> list[Tensor]:
    """The Tensors among call arguments (inside lists and tuples too: Concat's inputs)."""
    found = []
    for value in values:
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found += _tensors(value)
    return found


class QATModule(Module):
    """Base of quantization-aware modules; build one with ``from_float_module`` or
    :func:`~mge.quantization.quantize_qat`, deploy it with :func:`~mge.quantization.quantize`.

    Class attributes ``with_weight``/``with_act`` say which of weight and activation it
    quantizes.
    """

    with_weight = True
    with_act = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.weight_observer: Observer | None = None
        self.act_observer: Observer | None = None
        self.weight_fake_quant: FakeQuantize | None = None
        self.act_fake_quant: FakeQuantize | None = None

    def __repr__(self) -> str:
        return "QAT." + super().__repr__()

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        for inp in _tensors(inputs):
            if is_quantize(inp.dtype):
                raise TypeError(
                    f"{type(self).__name__}: QAT modules compute in float, got a tensor of "
                    f"dtype {dtype_name(inp.dtype)} (quantized modules take quantized tensors)"
                )
        return super().__call__(*inputs, **kwargs)

    def set_qconfig(self, qconfig: QConfig) -> None:
        """Make this module's observers and fake-quantize modules from ``qconfig``."""
        if not isinstance(qconfig, QConfig):
            raise TypeError(
                f"{type(self).__name__}.set_qconfig: expected a QConfig, "
                f"got {type(qconfig).__name__}"
            )

        def make(factory: Any) -> Any:
            return factory() if factory is not None else None

        if self.with_act:
            self.act_observer = make(qconfig.act_observer)
            self.act_fake_quant = make(qconfig.act_fake_quant)
        if self.with_weight:
            self.weight_observer = make(qconfig.weight_observer)
            self.weight_fake_quant = make(qconfig.weight_fake_quant)

    @staticmethod
    def _enable_exec(with_module: bool, func: Any, enable: bool) -> None:
        if not with_module or not func:
            return
        if enable:
            func.enable()
        else:
            func.disable()

    def set_fake_quant(self, enable: bool) -> None:
        """Enable or disable this module's fake quantization."""
        self._enable_exec(self.with_act, self.act_fake_quant, enable)
        self._enable_exec(self.with_weight, self.weight_fake_quant, enable)

    def set_observer(self, enable: bool) -> None:
        """Enable or disable this module's observers."""
        self._enable_exec(self.with_act, self.act_observer, enable)
        self._enable_exec(self.with_weight, self.weight_observer, enable)

    def _apply_fakequant_with_observer(
        self, target: Tensor, fake_quant: FakeQuantize | None, observer: Observer | None
    ) -> Tensor:
        if observer is None:
            oup, qparams = target, None
        else:
            oup = observer(target)
            qparams = observer.get_qparams()
        if fake_quant is not None:
            oup = fake_quant(oup, qparams)
            if hasattr(fake_quant, "get_qparams"):
                qparams = fake_quant.get_qparams()
        if qparams is not None:
            oup.qparams.update(qparams)
        return oup

    def apply_quant_weight(self, target: Tensor) -> Tensor:
        """The weight through the weight observer and fake quantization."""
        return self._apply_fakequant_with_observer(
            target, self.weight_fake_quant, self.weight_observer
        )

    def apply_quant_activation(self, target: Tensor) -> Tensor:
        """The activation through the activation observer and fake quantization."""
        return self._apply_fakequant_with_observer(
            target, self.act_fake_quant, self.act_observer
        )

    def apply_quant_bias(self, target: Tensor, inp: Tensor, w_qat: Tensor) -> Tensor:
        """The bias fake-quantized to qint32 (scale: input scale * weight scale) when both
        fake quantizations are enabled."""
        if (
            self.act_fake_quant and self.act_fake_quant.enabled
            and self.weight_fake_quant and self.weight_fake_quant.enabled
        ):
            return fake_quant_bias(target, inp, w_qat)
        return target

    @staticmethod
    def _get_method_result(method: str, fake_quant: Any, observer: Any) -> Any:
        if hasattr(fake_quant, method):
            return getattr(fake_quant, method)()
        if hasattr(observer, method):
            return getattr(observer, method)()
        return None

    def get_weight_dtype(self) -> np.dtype | None:
        """The weight's quantized dtype (from the fake quantization or the observer)."""
        return self._get_method_result(
            "get_quantized_dtype", self.weight_fake_quant, self.weight_observer
        )

    def get_activation_dtype(self) -> np.dtype | None:
        """The output's quantized dtype (from the fake quantization or the observer)."""
        return self._get_method_result(
            "get_quantized_dtype", self.act_fake_quant, self.act_observer
        )

    def get_weight_qparams(self) -> QParams | None:
        """The weight's quantization parameters."""
        return self._get_method_result("get_qparams", self.weight_fake_quant, self.weight_observer)

    def get_activation_qparams(self) -> QParams | None:
        """The output's quantization parameters."""
        return self._get_method_result("get_qparams", self.act_fake_quant, self.act_observer)

    @classmethod
    @abstractmethod
    def from_float_module(cls, float_module: Module) -> QATModule:
        """A QAT module sharing ``float_module``'s parameters."""


__all__ = ["QATModule"]
