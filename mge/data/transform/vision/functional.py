"""Image helpers of the vision transforms (MegEngine's ``transform.vision.functional``).

Images are ``(H, W, C)`` numpy arrays in BGR order; every helper keeps three dimensions
(OpenCV drops a single channel axis; it is put back).
"""

from __future__ import annotations

import collections.abc
import functools
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..._opencv import INTER_LINEAR, require_cv2


def wrap_keepdims(func: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Check that the image is ``(H, W, C)`` and return three dimensions again."""

    @functools.wraps(func)
    def wrapper(image: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
        if len(image.shape) != 3:
            raise ValueError(
                f"{func.__name__}: image must have 3 dims (H, W, C), but got shape "
                f"{tuple(image.shape)}"
            )
        result = func(image, *args, **kwargs)
        return result[:, :, np.newaxis] if result.ndim == 2 else result

    return wrapper


@wrap_keepdims
def to_gray(image: np.ndarray) -> np.ndarray:
    """BGR image to a one-channel gray image.

    Example:
        >>> to_gray(np.zeros((2, 3, 3), np.uint8)).shape
        (2, 3, 1)
    """
    cv2 = require_cv2("to_gray")
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


@wrap_keepdims
def to_bgr(image: np.ndarray) -> np.ndarray:
    """One-channel gray image to BGR.

    Example:
        >>> to_bgr(np.zeros((2, 3, 1), np.uint8)).shape
        (2, 3, 3)
    """
    cv2 = require_cv2("to_bgr")
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)


def pad_sizes(size: int | Sequence[int]) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` from an int (all sides), ``(bottom, right)`` or four."""
    if isinstance(size, int):
        return (size, size, size, size)
    if isinstance(size, collections.abc.Sequence) and len(size) == 2:
        return (0, size[0], 0, size[1])
    if isinstance(size, collections.abc.Sequence) and len(size) == 4:
        return tuple(size)  # type: ignore[return-value]
    raise ValueError(
        "pad size should be an int or a list/tuple of (bottom, right) or "
        f"(top, bottom, left, right), but got {size!r}"
    )


@wrap_keepdims
def pad(input: np.ndarray, size: int | Sequence[int], value: Any) -> np.ndarray:
    """Pad with a constant ``value``; a float value makes the result float32.

    Example:
        >>> pad(np.zeros((2, 2, 1), np.uint8), (1, 2), 7)[:, :, 0]
        array([[0, 0, 7, 7],
               [0, 0, 7, 7],
               [7, 7, 7, 7]], dtype=uint8)
    """
    cv2 = require_cv2("pad")
    if np.array(value).dtype == float:
        input = input.astype(np.float32)
    return cv2.copyMakeBorder(input, *pad_sizes(size), cv2.BORDER_CONSTANT, value=value)


@wrap_keepdims
def flip(image: np.ndarray, flipCode: int) -> np.ndarray:  # noqa: N803 - MegEngine's name
    """Flip: ``1`` horizontally, ``0`` vertically, ``-1`` both.

    Example:
        >>> flip(np.arange(3, dtype=np.uint8).reshape(1, 3, 1), flipCode=1)[0, :, 0]
        array([2, 1, 0], dtype=uint8)
    """
    cv2 = require_cv2("flip")
    return cv2.flip(image, flipCode=flipCode)


@wrap_keepdims
def resize(
    input: np.ndarray, size: Sequence[int], interpolation: int | Sequence[int] = INTER_LINEAR
) -> np.ndarray:
    """Resize to ``size = (height, width)`` with an OpenCV interpolation flag (or a random
    choice among several).

    Example:
        >>> resize(np.zeros((4, 6, 3), np.uint8), (2, 3)).shape
        (2, 3, 3)
    """
    cv2 = require_cv2("resize")
    if len(size) != 2:
        raise ValueError(f"resize needs (h, w), but got {size}")
    if isinstance(interpolation, collections.abc.Sequence):
        interpolation = random.choice(interpolation)
    return cv2.resize(input, tuple(int(s) for s in size[::-1]), interpolation=interpolation)
