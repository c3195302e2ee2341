"""PTQ of the real MobileNetV2 of ``../shared/models`` on crops of ``../shared/images``
(shared by the slow tests and ``bench/int8_ptq.py``).

``ptq(net, calibration)`` runs mge's PTQ road: ``equalize_cross_layer`` (optional),
``keep_float`` of the layers asked to stay float (optional), ``quantize_qat`` with
``mse_calibration_qconfig`` (MSE-optimal weight scales; optional, else
``calibration_qconfig``) and histogram activation observers, one calibration pass per
batch, ``share_activation_scales`` (optional), ``adaround`` or ``reconstruct_blocks``
(optional), ``quantize``, ``correct_bias`` (optional), ``search_activation_scales``
(optional). ``sensitivity(net, calibration)`` ranks the layers for ``keep_float``
(``weight_sensitivity`` of that road's network).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from copy import deepcopy
from functools import partial
from typing import Any

import numpy as np

import mge
from mge.quantization import (
    QConfig,
    adaround,
    calibration_qconfig,
    correct_bias,
    disable_observer,
    enable_observer,
    equalize_cross_layer,
    mse_calibration_qconfig,
    quantize,
    quantize_qat,
    share_activation_scales,
)
from mge.quantization.block_reconstruction import Step, reconstruct_blocks
from mge.quantization.mixed_precision import keep_float, weight_sensitivity
from mge.quantization.mse_activation import MSEActivationObserver
from mge.quantization.scale_search import search_activation_scales
from tests.examples.shared_data import IMAGES, MODELS

MODEL = MODELS / "mobilenet_v2_1.0_224_dq.onnx"
PHOTOS = ("cat.bmp", "chelsea.png", "grace_hopper.bmp")


def photos() -> list[np.ndarray]:
    """The three RGB ``uint8`` photos."""
    from PIL import Image

    return [np.asarray(Image.open(IMAGES / n).convert("RGB")) for n in PHOTOS]


def center_crop(image: np.ndarray, size: int = 224) -> np.ndarray:
    """The models' reference input: shorter side resized to ``size`` (bilinear),
    centre crop, ``x / 127.5 - 1``, NCHW ``(1, 3, size, size)``."""
    from PIL import Image

    h, w = image.shape[:2]
    s = size / min(h, w)
    a = np.asarray(Image.fromarray(image).resize((round(w * s), round(h * s)), Image.BILINEAR))
    top, left = (a.shape[0] - size) // 2, (a.shape[1] - size) // 2
    a = a[top:top + size, left:left + size].astype(np.float32) / 127.5 - 1.0
    return a.transpose(2, 0, 1)[None]


def random_crops(images: list[np.ndarray], n: int, seed: int, size: int = 224
                 ) -> Iterator[np.ndarray]:
    """``n`` inputs ``(1, 3, size, size)``: a random photo, a random square crop of 60 to
    100 % of its shorter side, flipped left-right half of the time."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for _ in range(n):
        image = images[rng.integers(len(images))]
        h, w = image.shape[:2]
        side = int(min(h, w) * rng.uniform(0.6, 1.0))
        top, left = rng.integers(h - side + 1), rng.integers(w - side + 1)
        crop = image[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        a = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(
            (size, size), Image.BILINEAR), dtype=np.float32) / 127.5 - 1.0
        yield a.transpose(2, 0, 1)[None]


def _equalized(net: mge.module.Module, calibration: list[np.ndarray], equalize: bool | str
               ) -> mge.module.Module:
    """A copy of ``net`` in eval mode, equalized as ``ptq`` does."""
    net = deepcopy(net)
    net.eval()
    if equalize == "data":
        equalize_cross_layer(net, mge.tensor(np.concatenate(calibration[:2])), relu6="data")
    elif equalize:
        equalize_cross_layer(net, mge.tensor(calibration[0][:1]))
    return net


def _calibrated(net: mge.module.Module, calibration: list[np.ndarray], mse_weights: bool,
                mse_activations: bool, share_scales: bool
                ) -> tuple[mge.module.Module, list[tuple[str, str]]]:
    """The QAT network of ``net`` calibrated on ``calibration`` (eval mode, observers off)
    and the pairs ``share_activation_scales`` tied (none unless ``share_scales``)."""
    qconfig = mse_calibration_qconfig if mse_weights else calibration_qconfig
    if mse_activations:
        qconfig = QConfig(qconfig.weight_observer, partial(MSEActivationObserver, dtype="qint8"),
                          None, None)
    qat = quantize_qat(net, inplace=False, qconfig=qconfig)
    enable_observer(qat)
    for batch in calibration:
        qat(mge.tensor(batch))
    disable_observer(qat)
    qat.eval()
    pairs = share_activation_scales(qat, mge.tensor(calibration[0][:1])) if share_scales else []
    return qat, pairs


def sensitivity(net: mge.module.Module, calibration: list[np.ndarray], batches: int = 1,
                equalize: bool | str = True, **options: Any) -> dict[str, float]:
    """``weight_sensitivity`` of ``ptq(net, calibration, equalize=equalize, **options)``
    (nearest rounding unless ``options`` say otherwise) on the first ``batches``
    calibration batches: the logits' SQNR (dB) with one layer alone float, most sensitive
    first (``""``: all quantized)."""
    net = _equalized(net, calibration, equalize)
    q = ptq(net, calibration, equalize=False, **options)
    return weight_sensitivity(q, net, calibration[:batches])


def ptq(net: mge.module.Module, calibration: list[np.ndarray], equalize: bool | str = True,
        bias_correction: bool = True, mse_weights: bool = True, share_scales: bool = True,
        adaround_iters: int = 0, adaround_masked: bool = False, mse_activations: bool = False,
        adaround_per_channel: bool = False, scale_search: int = 0,
        scale_ratios: tuple[float, ...] = (0.84, 1.19), blocks: dict | None = None,
        float_layers: Sequence[str] = ()) -> mge.module.Module:
    """A quantized copy of the float ``net`` calibrated on ``calibration`` batches
    (``equalize="data"``: ``equalize_cross_layer(relu6="data")`` on the first two batches;
    ``float_layers``: these layers (``"layers.3"``) stay float, ``keep_float`` after the
    equalization; ``adaround`` with ``adaround_iters`` steps per layer when not 0, its
    depthwise convs' objective masked to the output values their ReLU6 keeps if
    ``adaround_masked``, then ``correct_bias`` on the same batches unless
    ``bias_correction`` is False; ``mse_activations``: ``MSEActivationObserver`` instead of
    ``HistogramObserver`` for the activations; ``adaround_per_channel``:
    ``adaround(per_channel=True)``; ``scale_search``: last, ``search_activation_scales``
    against the float logits of the first that many calibration inputs, trying
    ``scale_ratios``; ``blocks``: ``reconstruct_blocks`` with these keyword arguments
    instead of ``adaround``; ``net`` must be an ``OnnxConvNet``)."""
    net = keep_float(_equalized(net, calibration, equalize), float_layers)
    qat, pairs = _calibrated(net, calibration, mse_weights, mse_activations, share_scales)
    if blocks is not None:
        steps = [Step(f"layers.{i}", inputs, out) for _, i, inputs, out in net.steps]
        reconstruct_blocks(qat, calibration, steps, {net.input_name: "quant"}, progress=False,
                           **blocks)
    elif adaround_iters:
        adaround(qat, calibration, float_module=net, iters=adaround_iters,
                 masked=adaround_masked, per_channel=adaround_per_channel, progress=False)
    q = quantize(qat, inplace=False)
    q.eval()
    if bias_correction:
        correct_bias(net, q, calibration)
    if scale_search:
        data = np.concatenate(calibration)[:scale_search]
        batches = [data[i:i + 8] for i in range(0, len(data), 8)]
        reference = np.concatenate([net(mge.tensor(b)).numpy() for b in batches])
        search_activation_scales(q, batches, reference, tied=pairs, ratios=scale_ratios)
    return q


def top1(net: mge.module.Module, batches: list[np.ndarray]) -> np.ndarray:
    """``argmax`` of the logits of every batch, concatenated."""
    return np.concatenate([net(mge.tensor(b)).numpy().argmax(1) for b in batches])
