"""``QConfig`` and MegEngine 1.13's predefined quantization configs.

A ``QConfig`` names four factories (classes or ``functools.partial``), called once per
QAT module: the weight and activation observers and fake-quantize modules. Weights use
``qint8_narrow`` ([-127, 127]) so that sums of two products cannot overflow int16.

Example:
    >>> from mge.quantization import ema_fakequant_qconfig
    >>> ema_fakequant_qconfig.act_observer().dtype.name
    'qint8'
"""

from __future__ import annotations

from collections import namedtuple
from functools import partial
from typing import Any

from ..module import Module
from .fake_quant import TQT, FakeQuantize
from .mse_observer import MSEWeightObserver
from .observer import (
    ExponentialMovingAverageObserver,
    HistogramObserver,
    MinMaxObserver,
    PassiveObserver,
    SyncExponentialMovingAverageObserver,
    SyncMinMaxObserver,
)


class QConfig(
    namedtuple(
        "QConfig", ["weight_observer", "act_observer", "weight_fake_quant", "act_fake_quant"]
    )
):
    """How a QAT module quantizes its weight and activation: four factories (or None).

    Raises:
        ValueError: an observer instance instead of a factory.
    """

    __slots__ = ()

    def __new__(
        cls, weight_observer: Any, act_observer: Any, weight_fake_quant: Any,
        act_fake_quant: Any,
    ) -> QConfig:
        if isinstance(act_observer, Module) or isinstance(weight_observer, Module):
            raise ValueError(
                "QConfig must not receive observer instance, please pass observer"
                " class generator using `partial(Observer, ...)` instead. Use"
                " partial(MyObserver, x=1) to override arguments to constructor if needed"
            )
        return super().__new__(cls, weight_observer, act_observer, weight_fake_quant,
                               act_fake_quant)


min_max_fakequant_qconfig = QConfig(
    weight_observer=partial(MinMaxObserver, dtype="qint8_narrow"),
    act_observer=partial(MinMaxObserver, dtype="qint8"),
    weight_fake_quant=partial(FakeQuantize, dtype="qint8_narrow"),
    act_fake_quant=partial(FakeQuantize, dtype="qint8"),
)

ema_fakequant_qconfig = QConfig(
    weight_observer=partial(MinMaxObserver, dtype="qint8_narrow"),
    act_observer=partial(ExponentialMovingAverageObserver, dtype="qint8"),
    weight_fake_quant=partial(FakeQuantize, dtype="qint8_narrow"),
    act_fake_quant=partial(FakeQuantize, dtype="qint8"),
)

sync_ema_fakequant_qconfig = QConfig(
    weight_observer=partial(SyncMinMaxObserver, dtype="qint8_narrow"),
    act_observer=partial(SyncExponentialMovingAverageObserver, dtype="qint8"),
    weight_fake_quant=partial(FakeQuantize, dtype="qint8_narrow"),
    act_fake_quant=partial(FakeQuantize, dtype="qint8"),
)

ema_lowbit_fakequant_qconfig = QConfig(
    weight_observer=partial(MinMaxObserver, dtype="qint4"),
    act_observer=partial(ExponentialMovingAverageObserver, dtype="qint4"),
    weight_fake_quant=partial(FakeQuantize, dtype="qint4"),
    act_fake_quant=partial(FakeQuantize, dtype="qint4"),
)

calibration_qconfig = QConfig(
    weight_observer=partial(MinMaxObserver, dtype="qint8_narrow"),
    act_observer=partial(HistogramObserver, dtype="qint8"),
    weight_fake_quant=None,
    act_fake_quant=None,
)

# mge's own: calibration_qconfig with MSE-optimal (clipped) per-tensor weight scales
mse_calibration_qconfig = QConfig(
    weight_observer=partial(MSEWeightObserver, dtype="qint8_narrow"),
    act_observer=partial(HistogramObserver, dtype="qint8"),
    weight_fake_quant=None,
    act_fake_quant=None,
)

tqt_qconfig = QConfig(
    weight_observer=None,
    act_observer=None,
    weight_fake_quant=partial(TQT, dtype="qint8_narrow"),
    act_fake_quant=partial(TQT, dtype="qint8"),
)

passive_qconfig = QConfig(
    weight_observer=partial(PassiveObserver, dtype="qint8_narrow"),
    act_observer=partial(PassiveObserver, dtype="qint8"),
    weight_fake_quant=partial(FakeQuantize, dtype="qint8_narrow"),
    act_fake_quant=partial(FakeQuantize, dtype="qint8"),
)

easyquant_qconfig = passive_qconfig

__all__ = [
    "QConfig", "calibration_qconfig", "easyquant_qconfig", "ema_fakequant_qconfig",
    "ema_lowbit_fakequant_qconfig", "min_max_fakequant_qconfig", "mse_calibration_qconfig",
    "passive_qconfig",
    "sync_ema_fakequant_qconfig", "tqt_qconfig",
]
