"""The torch backend: fast CPU kernels (and CUDA when torch sees a GPU), same op table."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...dtype import bfloat16
from ...ops.torch_arrays import TORCH_DTYPES, to_numpy, torch_device, torch_dtype
from .. import Backend


class TorchBackend(Backend):
    """Kernels over ``torch.Tensor``."""

    name = "torch"
    array_type = torch.Tensor

    def asarray(self, value: np.ndarray, device: str | None = None) -> torch.Tensor:
        dev = torch_device(device)
        if value.dtype == np.uint16:
            out = torch.from_numpy(value.astype(np.int32)).to(torch.uint16)
        elif value.dtype == bfloat16:  # the same bits, which torch.from_numpy cannot read
            out = torch.from_numpy(np.ascontiguousarray(value).view(np.int16)).view(torch.bfloat16)
        else:
            out = torch.from_numpy(np.ascontiguousarray(value).reshape(value.shape))
            if out.data_ptr() % 64:  # oneDNN kernels are slower on unaligned buffers
                out = out.clone()
        return out if dev.type == "cpu" else out.to(dev)

    def to_numpy(self, array: Any) -> np.ndarray:
        return to_numpy(array)

    def on_device(self, array: torch.Tensor, device: str) -> torch.Tensor:
        dev = torch_device(device)
        return array if array.device == dev else array.to(dev)


BACKEND = TorchBackend()

# the torch kernels of every op family register on the op classes
from ...ops.conv import torch_kernels as _conv  # noqa: E402,F401
from ...ops.elemwise import torch_kernels as _elemwise  # noqa: E402,F401
from ...ops.nn import torch_kernels as _nn  # noqa: E402,F401
from ...ops.optim import torch_kernels as _optim  # noqa: E402,F401
from ...ops.pooling import torch_kernels as _pooling  # noqa: E402,F401
from ...ops.quantized import torch_fake_quant as _fake_quant  # noqa: E402,F401
from ...ops.quantized import torch_kernels as _quantized  # noqa: E402,F401
from ...ops.random import torch_kernels as _random  # noqa: E402,F401
from ...ops.reduce import torch_kernels as _reduce  # noqa: E402,F401
from ...ops.shape import torch_kernels as _shape  # noqa: E402,F401
from ...ops.utility import torch_kernels as _utility  # noqa: E402,F401
from ...ops.vision import torch_detection as _vision_detection  # noqa: E402,F401
from ...ops.vision import torch_kernels as _vision  # noqa: E402,F401

__all__ = ["BACKEND", "TORCH_DTYPES", "TorchBackend", "torch_device", "torch_dtype"]
