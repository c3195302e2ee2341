"""PTQ of the real MobileNetV2 of ``../shared/models`` on crops of ``../shared/images``
(shared by the slow tests and ``bench/int8_ptq.py``).

``ptq(net, calibration)`` runs mge's PTQ road: ``equalize_cross_layer`` (optional),
``quantize_qat`` with ``calibration_qconfig`` (histogram observers), one calibration pass
per batch, ``quantize``, ``correct_bias`` (optional).
"""

from __future__ import annotations

from collections.abc import Iterator
from copy import deepcopy

import numpy as np

import mge
from mge.quantization import (
    calibration_qconfig,
    correct_bias,
    disable_observer,
    enable_observer,
    equalize_cross_layer,
    quantize,
    quantize_qat,
)
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


def ptq(net: mge.module.Module, calibration: list[np.ndarray], equalize: bool = True,
        bias_correction: bool = True) -> mge.module.Module:
    """A quantized copy of the float ``net`` calibrated on ``calibration`` batches
    (``correct_bias`` on the same batches unless ``bias_correction`` is False)."""
    net = deepcopy(net)
    net.eval()
    if equalize:
        equalize_cross_layer(net, mge.tensor(calibration[0][:1]))
    qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    enable_observer(qat)
    for batch in calibration:
        qat(mge.tensor(batch))
    disable_observer(qat)
    qat.eval()
    q = quantize(qat, inplace=False)
    q.eval()
    if bias_correction:
        correct_bias(net, q, calibration)
    return q


def top1(net: mge.module.Module, batches: list[np.ndarray]) -> np.ndarray:
    """``argmax`` of the logits of every batch, concatenated."""
    return np.concatenate([net(mge.tensor(b)).numpy().argmax(1) for b in batches])
