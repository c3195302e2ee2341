"""Photometric vision transforms: normalization, noise, color jitter, lighting.

They change pixel values only (coordinates and masks pass through). Random draws use
numpy's global random state in MegEngine's order (one draw per sample), so a given
``np.random.seed`` gives MegEngine 1.13's results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._opencv import require_cv2
from . import functional as F
from .base import Compose, VisionTransform


class _Photometric(VisionTransform):
    """A transform of pixel values: coordinates and masks are unchanged."""

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        return mask


class _MeanStd(_Photometric):
    """A photometric transform with per-channel ``mean`` and ``std`` (float32)."""

    def __init__(
        self, mean: Any = 0.0, std: Any = 1.0, *, order: Sequence[str] | None = None
    ) -> None:
        super().__init__(order)
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)


class Normalize(_MeanStd):
    """``(image - mean) / std`` per channel, in float32.

    Example:
        >>> import numpy as np
        >>> Normalize(mean=[1, 2, 3], std=2).apply(np.full((1, 1, 3), 5, np.uint8))[0, 0]
        array([2. , 1.5, 1. ], dtype=float32)
    """

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        return (image - self.mean) / self.std


class GaussianNoise(_MeanStd):
    """Add ``N(mean, std) * 255`` noise, clipped to ``[0, 255]`` in the input dtype.

    Example:
        >>> import numpy as np
        >>> GaussianNoise(std=0.0).apply(np.full((1, 1, 3), 9, np.uint8))[0, 0]
        array([9, 9, 9], dtype=uint8)
    """

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        noise = np.random.normal(self.mean, self.std, image.shape) * 255
        return np.clip(image + noise.astype(np.float32), 0, 255).astype(image.dtype)


class _Jitter(_Photometric):
    """Blend the image with a reference by a factor drawn from ``[1 - value, 1 + value]``."""

    _what = "jitter"

    def __init__(self, value: float, *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        if value < 0:
            raise ValueError(f"{self._what} value should be non-negative")
        self.value = value

    def _reference(self, image: np.ndarray) -> np.ndarray | float:
        raise NotImplementedError

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        if self.value == 0:
            return image
        pixels = image.astype(np.float32)
        alpha = np.random.uniform(max(0, 1 - self.value), 1 + self.value)
        blended = pixels * alpha + self._reference(pixels) * (1 - alpha)
        return blended.clip(0, 255).astype(image.dtype)


class BrightnessTransform(_Jitter):
    """Scale the brightness by a random factor in ``[max(0, 1 - value), 1 + value]``.

    Example:
        >>> import numpy as np
        >>> BrightnessTransform(0.0).apply(np.ones((1, 1, 3), np.uint8))[0, 0]
        array([1, 1, 1], dtype=uint8)
    """

    _what = "brightness"

    def _reference(self, image: np.ndarray) -> float:
        return 0.0


class ContrastTransform(_Jitter):
    """Blend with the image's mean gray level by a random factor.

    Example:
        >>> import numpy as np
        >>> ContrastTransform(0.5).apply(np.full((2, 2, 3), 7, np.uint8)).shape
        (2, 2, 3)
    """

    _what = "contrast"

    def _reference(self, image: np.ndarray) -> float:
        return float(F.to_gray(image).mean())


class SaturationTransform(_Jitter):
    """Blend with the image's gray version by a random factor.

    Example:
        >>> import numpy as np
        >>> SaturationTransform(0.5).apply(np.full((2, 2, 3), 7, np.uint8)).shape
        (2, 2, 3)
    """

    _what = "saturation"

    def _reference(self, image: np.ndarray) -> np.ndarray:
        return F.to_gray(image)


class HueTransform(_Photometric):
    """Rotate the hue (OpenCV's full-range uint8 HSV) by a random fraction in
    ``[-value, value]`` of the circle; ``value`` is at most 0.5.

    Example:
        >>> import numpy as np
        >>> HueTransform(0.0).apply(np.ones((1, 1, 3), np.uint8))[0, 0]
        array([1, 1, 1], dtype=uint8)
    """

    def __init__(self, value: float, *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        if value < 0 or value > 0.5:
            raise ValueError("hue value should be in [0.0, 0.5]")
        self.value = value

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        if self.value == 0:
            return image
        cv2 = require_cv2("HueTransform")
        hsv = cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
        alpha = np.random.uniform(-self.value, self.value)
        # uint8 arithmetic wraps around the hue circle, as OpenCV's full-range hue does
        shift = np.uint8(int(alpha * 255) % 256)  # truncate, then wrap: C's float->uint8
        hsv[:, :, 0] = hsv[:, :, 0] + shift
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(image.dtype)


class ColorJitter(VisionTransform):
    """Brightness, contrast, saturation and hue jitter (those with a non-zero value), in a
    random order per sample.

    Example:
        >>> import numpy as np
        >>> ColorJitter(brightness=0.0).apply(np.ones((1, 1, 3), np.uint8))[0, 0]
        array([1, 1, 1], dtype=uint8)
    """

    def __init__(
        self,
        brightness: float = 0,
        contrast: float = 0,
        saturation: float = 0,
        hue: float = 0,
        *,
        order: Sequence[str] | None = None,
    ) -> None:
        super().__init__(order)
        jitters: list[VisionTransform] = []
        for cls, value in (
            (BrightnessTransform, brightness),
            (ContrastTransform, contrast),
            (SaturationTransform, saturation),
            (HueTransform, hue),
        ):
            if value != 0:
                jitters.append(cls(value))
        self.transforms = Compose(
            jitters, shuffle_indices=[tuple(range(1, len(jitters) + 1))], order=order
        )

    def apply(self, input: Any) -> Any:
        return self.transforms.apply(input)


class Lighting(_Photometric):
    """AlexNet-style PCA lighting noise: add ``eigvec @ (alpha * eigval)`` with
    ``alpha ~ N(0, (scale * 255)^2)`` per channel (ImageNet's eigenvectors, BGR order).

    Example:
        >>> import numpy as np
        >>> Lighting(0.0).apply(np.ones((1, 1, 3), np.uint8))[0, 0]
        array([1, 1, 1], dtype=uint8)
    """

    # ImageNet RGB principal components, rows reordered for BGR images
    EIGVEC = np.array(
        [[-0.5836, -0.6948, 0.4203], [-0.5808, -0.0045, -0.8140], [-0.5675, 0.7192, 0.4009]]
    )
    EIGVAL = np.array([0.2175, 0.0188, 0.0045])

    def __init__(self, scale: float, *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        if scale < 0:
            raise ValueError("lighting scale should be non-negative")
        self.scale = scale
        self.eigvec = self.EIGVEC.copy()
        self.eigval = self.EIGVAL.copy()

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        if self.scale == 0:
            return image
        alpha = np.random.normal(scale=self.scale * 255, size=3)
        shifted = image.astype(np.float32) + self.eigvec.dot(alpha * self.eigval)
        return shifted.clip(0, 255).astype(image.dtype)
