"""The numpy plan backend: the reference kernels, prepared once per op.

The ops' numpy preparations (:mod:`mge.backends.numpy`) do the specialising:
convolutions with constant filters (1x1 as one matrix product, im2col into a scratch
matrix shared by the plan's ops, depthwise as scaled slices; bias and nonlinearity in
place), global average pooling as a mean, elementwise ops written into dead inputs
(``out=``). This backend gives them the plan's :class:`Scratch` buffers and runs BLAS
with the plan's thread count.

Example:
    >>> plan = Plan(graph, PlanOptions(backend="numpy", threads=1))  # doctest: +SKIP
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from .cpu import blas_threads
from .plan import INFERENCE_PASSES, PlanBackend, PlanOptions, register_plan_backend

F32 = np.dtype("float32")


class Scratch:
    """Work buffers shared by the ops of one plan (they run one at a time)."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 array of ``shape`` (contents undefined) in buffer ``name``."""
        size = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.size < size:
            buf = np.empty(size, F32)
            self._buffers[name] = buf
        return buf[:size].reshape(shape)


@register_plan_backend
class NumpyPlanBackend(PlanBackend):
    """Reference numpy kernels, with the heavy ops specialised at bind time."""

    name = "numpy"
    priority = 10
    quantized = True
    eager = "numpy"
    passes = INFERENCE_PASSES

    def __init__(self, options: PlanOptions, weights: Any) -> None:
        super().__init__(options, weights)
        self.scratch = Scratch()

    @classmethod
    def unavailable(cls, options: PlanOptions) -> str | None:
        if options.compute_dtype not in (None, "float32") and options.device_kind == "cpu":
            return f"plan backend 'numpy' computes in the graph's dtypes, not " \
                   f"{options.compute_dtype}"
        return super().unavailable(options)

    def feed(self, value: np.ndarray, var: Any) -> np.ndarray:
        return value

    def session(self) -> AbstractContextManager:
        return blas_threads(self.options.threads)


__all__ = ["NumpyPlanBackend", "Scratch"]
