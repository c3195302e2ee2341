"""The numpy backend: the reference semantics every other backend is tested against."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import Backend


class NumpyBackend(Backend):
    """Kernels over ``numpy.ndarray`` (CPU only)."""

    name = "numpy"
    array_type = np.ndarray

    def asarray(self, value: np.ndarray, device: str | None = None) -> np.ndarray:
        return value

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(array)


BACKEND = NumpyBackend()

from . import conv, elemwise, nn, pooling, reduce, shape, utility, vision  # noqa: E402,F401
