"""``mge.quantization``: observers, fake quantization, QConfigs and the float -> QAT ->
quantized conversions (MegEngine 1.13's ``megengine.quantization``).

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> from mge.quantization import quantize, quantize_qat
    >>> net = M.Sequential(M.QuantStub(), M.Linear(4, 2), M.DequantStub())
    >>> qat = quantize_qat(net)
    >>> _ = qat(mge.tensor(np.random.rand(8, 4).astype("float32")))  # calibrate
    >>> q = quantize(qat)
    >>> q.eval()
    >>> q(mge.tensor(np.ones((1, 4), "float32"))).dtype
    dtype('float32')
"""

from .adaptive_rounding import RoundingResult, adaround
from .bias_correction import correct_bias
from .block_reconstruction import BlockResult, reconstruct_blocks
from .clipped_outputs import share_activation_scales
from .equalize import equalize_cross_layer
from .fake_quant import LSQ, TQT, FakeQuantize
from .mse_observer import MSEWeightObserver, mse_clip_ratio
from .observer import (
    ExponentialMovingAverageObserver,
    HistogramObserver,
    MinMaxObserver,
    Observer,
    PassiveObserver,
    SyncExponentialMovingAverageObserver,
    SyncMinMaxObserver,
)
from .qconfig import (
    QConfig,
    calibration_qconfig,
    easyquant_qconfig,
    ema_fakequant_qconfig,
    ema_lowbit_fakequant_qconfig,
    min_max_fakequant_qconfig,
    mse_calibration_qconfig,
    passive_qconfig,
    sync_ema_fakequant_qconfig,
    tqt_qconfig,
)
from .quantize import (
    apply_easy_quant,
    disable_fake_quant,
    disable_observer,
    enable_fake_quant,
    enable_observer,
    propagate_qconfig,
    quantize,
    quantize_qat,
    reset_qconfig,
)
from .utils import QParams, QuantMode, create_qparams, fake_quant_bias, fake_quant_tensor

__all__ = [
    "LSQ", "TQT", "ExponentialMovingAverageObserver", "FakeQuantize", "HistogramObserver",
    "MSEWeightObserver", "MinMaxObserver", "Observer", "PassiveObserver", "QConfig", "QParams",
    "QuantMode", "RoundingResult", "adaround", "BlockResult", "reconstruct_blocks",
    "SyncExponentialMovingAverageObserver", "SyncMinMaxObserver", "apply_easy_quant",
    "calibration_qconfig", "correct_bias", "create_qparams", "disable_fake_quant",
    "disable_observer",
    "easyquant_qconfig", "ema_fakequant_qconfig", "ema_lowbit_fakequant_qconfig",
    "enable_fake_quant", "enable_observer", "equalize_cross_layer", "fake_quant_bias",
    "fake_quant_tensor",
    "min_max_fakequant_qconfig", "mse_calibration_qconfig", "mse_clip_ratio",
    "passive_qconfig", "propagate_qconfig", "quantize",
    "quantize_qat", "reset_qconfig", "share_activation_scales", "sync_ema_fakequant_qconfig",
    "tqt_qconfig",
]
