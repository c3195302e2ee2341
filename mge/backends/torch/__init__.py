"""The torch backend: fast CPU kernels (and CUDA when torch sees a GPU), same op table."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...device import parse_device
from .. import Backend

TORCH_DTYPES = {
    np.dtype("float32"): torch.float32, np.dtype("float16"): torch.float16,
    np.dtype("int32"): torch.int32, np.dtype("int16"): torch.int16,
    np.dtype("int8"): torch.int8, np.dtype("uint8"): torch.uint8,
    np.dtype("uint16"): torch.uint16, np.dtype("bool"): torch.bool,
    np.dtype("int64"): torch.int64, np.dtype("float64"): torch.float64,
}


def torch_dtype(dtype: Any) -> torch.dtype:
    """The torch dtype for a numpy dtype or dtype name."""
    return TORCH_DTYPES[np.dtype(dtype)]


def torch_device(device: str | None) -> torch.device:
    """Map a MegEngine device name to a torch device (``xpux``: CUDA when available)."""
    kind, index = parse_device(device or "xpux")
    if kind in ("gpu", "xpu") and torch.cuda.is_available():
        return torch.device("cuda", max(index, 0))
    return torch.device("cpu")


class TorchBackend(Backend):
    """Kernels over ``torch.Tensor``."""

    name = "torch"
    array_type = torch.Tensor

    def asarray(self, value: np.ndarray, device: str | None = None) -> torch.Tensor:
        dev = torch_device(device)
        if value.dtype == np.uint16:
            out = torch.from_numpy(value.astype(np.int32)).to(torch.uint16)
        else:
            out = torch.from_numpy(np.ascontiguousarray(value).reshape(value.shape))
            if out.data_ptr() % 64:  # oneDNN kernels are slower on unaligned buffers
                out = out.clone()
        return out if dev.type == "cpu" else out.to(dev)

    def to_numpy(self, array: Any) -> np.ndarray:
        t = array.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype == torch.uint16:
            return t.to(torch.int32).numpy().astype(np.uint16)
        return t.numpy()


BACKEND = TorchBackend()

from . import conv, elemwise, nn, pooling, reduce, shape, utility, vision  # noqa: E402,F401
