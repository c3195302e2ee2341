"""torch kernels for ``WarpPerspectiveForward`` and ``ResizeForward``.

The numpy backend's vectorized algorithms run here on torch tensors (CPU or CUDA)
through :class:`TorchOps`; torch's float32/float64 arithmetic is IEEE like numpy's, so
the outputs match the numpy reference (and MegEngine) bit for bit.

Example:
    >>> from mge.ops.vision import ResizeForward
    >>> x = torch.arange(4, dtype=torch.float32).reshape(1, 1, 2, 2)
    >>> resize(TORCH_OPS, ResizeForward(format="NCHW", dsize=(1, 1)), x)
    tensor([[[[1.5000]]]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..registry import TORCH
from ..torch_arrays import TORCH_DTYPES, torch_dtype
from . import ResizeForward, WarpPerspectiveForward
from .numpy_kernels import ArrayOps, resize, warp_perspective

_NUMPY_DTYPES = {v: k for k, v in TORCH_DTYPES.items()}


class TorchOps(ArrayOps):
    """The vision kernels' array primitives on torch tensors."""

    float32 = torch.float32
    float64 = torch.float64
    int32 = torch.int32
    int64 = torch.int64

    def cast(self, x: Any, dtype: Any) -> Any:
        return x.to(torch_dtype(dtype) if isinstance(dtype, np.dtype) else dtype)

    def from_numpy(self, value: np.ndarray, like: Any) -> Any:
        return torch.from_numpy(np.ascontiguousarray(value)).to(like.device)

    def arange(self, n: int, dtype: Any, like: Any) -> Any:
        return torch.arange(n, dtype=dtype, device=like.device)

    def floor(self, x: Any) -> Any:
        return torch.floor(x)

    def rint(self, x: Any) -> Any:
        return torch.round(x)  # half to even, like np.rint

    def where(self, cond: Any, x: Any, y: Any) -> Any:
        return torch.where(cond, x, y)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return torch.clamp(x, lo, hi)

    def isfinite(self, x: Any) -> Any:
        return torch.isfinite(x)

    def isnan(self, x: Any) -> Any:
        return torch.isnan(x)

    def permute(self, x: Any, axes: tuple[int, ...]) -> Any:
        return x.permute(axes)

    def contiguous(self, x: Any) -> Any:
        return x.contiguous()

    def dtype_of(self, x: Any) -> np.dtype:
        return _NUMPY_DTYPES[x.dtype]

    def maximum(self, x: Any, y: Any) -> Any:
        return torch.clamp(x, min=y) if isinstance(y, (int, float)) else torch.maximum(x, y)

    def minimum(self, x: Any, y: Any) -> Any:
        return torch.clamp(x, max=y) if isinstance(y, (int, float)) else torch.minimum(x, y)

    def abs(self, x: Any) -> Any:
        return torch.abs(x)

    def ceil(self, x: Any) -> Any:
        return torch.ceil(x)

    def amax(self, x: Any, axis: int) -> Any:
        return torch.amax(x, dim=axis)

    def argmax(self, x: Any, axis: int) -> Any:
        return torch.argmax(x, dim=axis)  # the first maximum, as numpy

    def take_along(self, x: Any, idx: Any, axis: int) -> Any:
        return torch.take_along_dim(x, idx, dim=axis)

    def stack(self, xs: list[Any], axis: int) -> Any:
        return torch.stack(xs, dim=axis)

    def concat(self, xs: list[Any], axis: int) -> Any:
        return torch.cat(xs, dim=axis)

    def repeat(self, x: Any, n: int, axis: int) -> Any:
        return torch.repeat_interleave(x, n, dim=axis)

    def zeros(self, shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
        return torch.zeros(shape, dtype=self._dtype(dtype), device=like.device)

    def scalar(self, value: float, dtype: Any, like: Any) -> Any:
        return torch.tensor(value, dtype=self._dtype(dtype), device=like.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.detach().cpu().numpy()

    def pad_center(self, x: Any, margin: int) -> Any:
        return torch.nn.functional.pad(x, (margin, margin, margin, margin))

    def sum(self, x: Any, axis: int) -> Any:
        return torch.sum(x, dim=axis)

    def _dtype(self, dtype: Any) -> Any:
        return torch_dtype(np.dtype(dtype)) if not isinstance(dtype, torch.dtype) else dtype


TORCH_OPS = TorchOps()


@TORCH.kernel(WarpPerspectiveForward)
def warp_perspective_kernel(op: WarpPerspectiveForward, src: torch.Tensor, mat: torch.Tensor,
                            mat_idx: torch.Tensor | None = None) -> torch.Tensor:
    return warp_perspective(TORCH_OPS, op, src, mat, mat_idx)


@TORCH.kernel(ResizeForward)
def resize_kernel(op: ResizeForward, src: torch.Tensor, *size: torch.Tensor) -> torch.Tensor:
    # a size input (a traced interpolate's) always equals ``dsize`` where a kernel runs
    return resize(TORCH_OPS, op, src)
