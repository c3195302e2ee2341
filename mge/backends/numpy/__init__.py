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

# the numpy kernels of every op family register on the op classes
from ...ops.conv import numpy_kernels as _conv  # noqa: E402,F401
from ...ops.elemwise import numpy_kernels as _elemwise  # noqa: E402,F401
from ...ops.nn import numpy_kernels as _nn  # noqa: E402,F401
from ...ops.optim import numpy_kernels as _optim  # noqa: E402,F401
from ...ops.pooling import numpy_kernels as _pooling  # noqa: E402,F401
from ...ops.quantized import numpy_fake_quant as _fake_quant  # noqa: E402,F401
from ...ops.quantized import numpy_kernels as _quantized  # noqa: E402,F401 - after the families it wraps
from ...ops.random import numpy_kernels as _random  # noqa: E402,F401
from ...ops.reduce import numpy_kernels as _reduce  # noqa: E402,F401
from ...ops.shape import numpy_kernels as _shape  # noqa: E402,F401
from ...ops.utility import numpy_kernels as _utility  # noqa: E402,F401
from ...ops.vision import numpy_color as _vision_color  # noqa: E402,F401
from ...ops.vision import numpy_detection as _vision_detection  # noqa: E402,F401
from ...ops.vision import numpy_kernels as _vision  # noqa: E402,F401
from ...ops.vision import numpy_remap as _vision_remap  # noqa: E402,F401
from ...ops.vision import numpy_resize3d as _vision_resize3d  # noqa: E402,F401
