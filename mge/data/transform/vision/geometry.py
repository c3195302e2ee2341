"""Geometric vision transforms: padding, resizing, cropping, flipping.

Random choices use numpy's global random state in MegEngine's order, so a given
``np.random.seed`` picks the same crops and flips as MegEngine 1.13.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._opencv import INTER_LINEAR, INTER_NEAREST
from . import functional as F
from .base import VisionTransform


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (size[0], size[1])


class Pad(VisionTransform):
    """Pad images with ``value`` and masks with ``mask_value``.

    Args:
        size: an int (all four sides), ``(bottom, right)`` or ``(top, bottom, left, right)``.
        value: image padding value (a float makes the image float32).
        mask_value: mask padding value.

    Example:
        >>> import numpy as np
        >>> Pad(2).apply(np.zeros((4, 4, 3), np.uint8)).shape
        (8, 8, 3)
    """

    def __init__(
        self,
        size: int | Sequence[int] = 0,
        value: Any = 0,
        mask_value: int = 0,
        *,
        order: Sequence[str] | None = None,
    ) -> None:
        super().__init__(order)
        self.size = F.pad_sizes(size)
        self.value = value
        if not isinstance(mask_value, int):
            raise ValueError(f"mask_value should be a positive integer, but got {mask_value!r}")
        self.mask_value = mask_value

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        return F.pad(image, self.size, self.value)

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords[:, 0] += self.size[2]
        coords[:, 1] += self.size[0]
        return coords

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        return F.pad(mask, self.size, self.mask_value)


class _Rescale(VisionTransform):
    """Resize to a size chosen per sample by ``_target_size``; masks use nearest."""

    interpolation: int | Sequence[int]

    def _target_size(self, height: int, width: int) -> tuple[int, int]:
        raise NotImplementedError

    def apply(self, input: Any) -> Any:
        height, width = self._get_image(input).shape[:2]
        self._shape_info = (height, width, *self._target_size(height, width))
        return super().apply(input)

    def _unchanged(self) -> bool:
        h, w, th, tw = self._shape_info
        return h == th and w == tw

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        if self._unchanged():
            return image
        return F.resize(image, self._shape_info[2:], self.interpolation)

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        if self._unchanged():
            return coords
        h, w, th, tw = self._shape_info
        coords[:, 0] = coords[:, 0] * (tw / w)
        coords[:, 1] = coords[:, 1] * (th / h)
        return coords

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        if self._unchanged():
            return mask
        return F.resize(mask, self._shape_info[2:], INTER_NEAREST)


class Resize(_Rescale):
    """Resize to ``output_size``: ``(height, width)``, or an int for the shorter edge
    (the longer one scaled and truncated, keeping the aspect ratio).

    Example:
        >>> import numpy as np
        >>> Resize(4).apply(np.zeros((8, 12, 3), np.uint8)).shape
        (4, 6, 3)
    """

    def __init__(
        self,
        output_size: int | Sequence[int],
        interpolation: int | Sequence[int] = INTER_LINEAR,
        *,
        order: Sequence[str] | None = None,
    ) -> None:
        super().__init__(order)
        self.output_size = output_size
        self.interpolation = interpolation

    def _target_size(self, height: int, width: int) -> tuple[int, int]:
        if not isinstance(self.output_size, int):
            return _pair(self.output_size)
        size = self.output_size
        if min(height, width) == size:
            return height, width
        if height < width:
            return size, int(size * width / height)
        return int(size * height / width), size


class ShortestEdgeResize(_Rescale):
    """Resize so the shorter edge is a size drawn from ``min_size`` (a ``(low, high)``
    range or a set of choices) while the longer edge stays within ``max_size``.

    Example:
        >>> import numpy as np
        >>> ShortestEdgeResize(4, 100).apply(np.zeros((8, 12, 3), np.uint8)).shape
        (4, 6, 3)
    """

    def __init__(
        self,
        min_size: int | Sequence[int],
        max_size: int,
        sample_style: str = "range",
        interpolation: int | Sequence[int] = INTER_LINEAR,
        *,
        order: Sequence[str] | None = None,
    ) -> None:
        super().__init__(order)
        if sample_style not in ("range", "choice"):
            raise NotImplementedError(f"{sample_style} is unsupported sample style")
        self.sample_style = sample_style
        self.min_size = (min_size, min_size) if isinstance(min_size, int) else min_size
        self.max_size = max_size
        self.interpolation = interpolation

    def _target_size(self, height: int, width: int) -> tuple[int, int]:
        if self.sample_style == "range":
            size = np.random.randint(self.min_size[0], self.min_size[1] + 1)
        else:
            size = np.random.choice(self.min_size)
        scale = size / min(height, width)
        th, tw = (size, scale * width) if height < width else (scale * height, size)
        if max(th, tw) > self.max_size:
            shrink = self.max_size / max(th, tw)
            th, tw = th * shrink, tw * shrink
        return int(round(th)), int(round(tw))


class RandomResize(_Rescale):
    """Scale both edges by a factor drawn uniformly from ``scale_range``.

    Example:
        >>> import numpy as np
        >>> RandomResize((0.5, 0.5)).apply(np.zeros((8, 12, 3), np.uint8)).shape
        (4, 6, 3)
    """

    def __init__(
        self,
        scale_range: Sequence[float],
        interpolation: int | Sequence[int] = INTER_LINEAR,
        *,
        order: Sequence[str] | None = None,
    ) -> None:
        super().__init__(order)
        self.scale_range = scale_range
        self.interpolation = interpolation

    def _target_size(self, height: int, width: int) -> tuple[int, int]:
        scale = np.random.uniform(*self.scale_range)
        return int(round(height * scale)), int(round(width * scale))


class _Crop(VisionTransform):
    """Crop a ``(height, width)`` window at ``self._x, self._y`` (set by ``apply``)."""

    output_size: tuple[int, int]
    _x: int
    _y: int

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        th, tw = self.output_size
        return image[self._y : self._y + th, self._x : self._x + tw]

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords[:, 0] -= self._x
        coords[:, 1] -= self._y
        return coords

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        return self._apply_image(mask)


class CenterCrop(_Crop):
    """Crop the centre ``output_size`` (int or ``(height, width)``) window.

    Example:
        >>> import numpy as np
        >>> CenterCrop(2).apply(np.arange(16).reshape(4, 4, 1))[:, :, 0]
        array([[ 5,  6],
               [ 9, 10]])
    """

    def __init__(
        self, output_size: int | Sequence[int], *, order: Sequence[str] | None = None
    ) -> None:
        super().__init__(order)
        self.output_size = _pair(output_size)

    def apply(self, input: Any) -> Any:
        th, tw = self.output_size
        h, w = self._get_image(input).shape[:2]
        if th > h or tw > w:
            raise AssertionError(
                f"CenterCrop: output size {(th, tw)} is bigger than the image size {(h, w)}"
            )
        self._x = int(round((w - tw) / 2.0))
        self._y = int(round((h - th) / 2.0))
        return super().apply(input)


class RandomCrop(_Crop):
    """Pad by ``padding_size``, then crop a random ``output_size`` window (padding more
    at the bottom/right when the image is still smaller).

    Example:
        >>> import numpy as np
        >>> RandomCrop(4, padding_size=2).apply(np.zeros((3, 3, 3), np.uint8)).shape
        (4, 4, 3)
    """

    def __init__(
        self,
        output_size: int | Sequence[int],
        padding_size: int | Sequence[int] = 0,
        padding_value: Any = (0, 0, 0),
        padding_maskvalue: int = 0,
        *,
        order: Sequence[str] | None = None,
    ) -> None:
        super().__init__(order)
        self.output_size = _pair(output_size)
        self.pad = Pad(padding_size, padding_value, order=self.order)
        self.padding_value = padding_value
        self.padding_maskvalue = padding_maskvalue

    def apply(self, input: Any) -> Any:
        input = self.pad.apply(input)
        self._h, self._w = self._get_image(input).shape[:2]
        th, tw = self.output_size
        self._x = np.random.randint(0, max(0, self._w - tw) + 1)
        self._y = np.random.randint(0, max(0, self._h - th) + 1)
        return super().apply(input)

    def _pad_to_output(self, array: np.ndarray, value: Any) -> np.ndarray:
        th, tw = self.output_size
        if th > self._h:
            array = F.pad(array, (th - self._h, 0), value)
        if tw > self._w:
            array = F.pad(array, (0, tw - self._w), value)
        return array

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        return super()._apply_image(self._pad_to_output(image, self.padding_value))

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        return super()._apply_image(self._pad_to_output(mask, self.padding_maskvalue))


class RandomResizedCrop(VisionTransform):
    """Crop a random window (area fraction from ``scale_range``, aspect ratio from
    ``ratio_range``; ten tries, then a centre crop) and resize it to ``output_size``.

    Example:
        >>> import numpy as np
        >>> RandomResizedCrop(5).apply(np.zeros((20, 30, 3), np.uint8)).shape
        (5, 5, 3)
    """

    def __init__(
        self,
        output_size: int | Sequence[int],
        scale_range: Sequence[float] = (0.08, 1.0),
        ratio_range: Sequence[float] = (3.0 / 4, 4.0 / 3),
        interpolation: int | Sequence[int] = INTER_LINEAR,
        *,
        order: Sequence[str] | None = None,
    ) -> None:
        super().__init__(order)
        self.output_size = _pair(output_size)
        if scale_range[0] > scale_range[1]:
            raise AssertionError(f"scale_range should be of kind (min, max), got {scale_range}")
        if ratio_range[0] > ratio_range[1]:
            raise AssertionError(f"ratio_range should be of kind (min, max), got {ratio_range}")
        self.scale_range = scale_range
        self.ratio_range = ratio_range
        self.interpolation = interpolation

    def apply(self, input: Any) -> Any:
        self._coord_info = self._get_coord(self._get_image(input))
        return super().apply(input)

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        x, y, w, h = self._coord_info
        return F.resize(image[y : y + h, x : x + w], self.output_size, self.interpolation)

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        x, y, w, h = self._coord_info
        coords[:, 0] = (coords[:, 0] - x) * self.output_size[1] / w
        coords[:, 1] = (coords[:, 1] - y) * self.output_size[0] / h
        return coords

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        x, y, w, h = self._coord_info
        return F.resize(mask[y : y + h, x : x + w], self.output_size, INTER_NEAREST)

    def _get_coord(self, image: np.ndarray, attempts: int = 10) -> tuple[int, int, int, int]:
        height, width = image.shape[:2]
        area = height * width
        log_ratio = tuple(math.log(r) for r in self.ratio_range)
        for _ in range(attempts):
            target_area = np.random.uniform(*self.scale_range) * area
            aspect_ratio = math.exp(np.random.uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect_ratio)))
            h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < w <= width and 0 < h <= height:
                x = np.random.randint(0, width - w + 1)
                y = np.random.randint(0, height - h + 1)
                return x, y, w, h
        in_ratio = width / height
        if in_ratio < min(self.ratio_range):
            w, h = width, int(round(width / min(self.ratio_range)))
        elif in_ratio > max(self.ratio_range):
            w, h = int(round(height * max(self.ratio_range))), height
        else:
            w, h = width, height
        return (width - w) // 2, (height - h) // 2, w, h


class _RandomFlip(VisionTransform):
    """Flip with probability ``prob`` along one axis (``_flip_code``, ``_axis``)."""

    _flip_code: int
    _axis: int  # 0: x coordinates (horizontal flip), 1: y coordinates

    def __init__(self, prob: float = 0.5, *, order: Sequence[str] | None = None) -> None:
        super().__init__(order)
        self.prob = prob

    def apply(self, input: Any) -> Any:
        self._flipped = np.random.random() < self.prob
        self._extent = self._get_image(input).shape[1 - self._axis]
        return super().apply(input)

    def _apply_image(self, image: np.ndarray) -> np.ndarray:
        return F.flip(image, flipCode=self._flip_code) if self._flipped else image

    def _apply_coords(self, coords: np.ndarray) -> np.ndarray:
        if self._flipped:
            coords[:, self._axis] = self._extent - coords[:, self._axis]
        return coords

    def _apply_mask(self, mask: np.ndarray) -> np.ndarray:
        return self._apply_image(mask)


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right with probability ``prob``.

    Example:
        >>> import numpy as np
        >>> RandomHorizontalFlip(1.0).apply(np.arange(3, dtype=np.uint8).reshape(1, 3, 1))[0, :, 0]
        array([2, 1, 0], dtype=uint8)
    """

    _flip_code = 1
    _axis = 0


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom with probability ``prob``.

    Example:
        >>> import numpy as np
        >>> RandomVerticalFlip(1.0).apply(np.arange(3, dtype=np.uint8).reshape(3, 1, 1))[:, 0, 0]
        array([2, 1, 0], dtype=uint8)
    """

    _flip_code = 0
    _axis = 1
