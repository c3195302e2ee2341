"""torch dtypes and devices for mge's: what the torch kernels of every family share.

Only the torch backend imports the torch kernel modules (and so this module), which
import torch at their top.

Example:
    >>> torch_dtype("float32")
    torch.float32
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..device import parse_device
from ..dtype import bfloat16

TORCH_DTYPES = {
    np.dtype("float32"): torch.float32, np.dtype("float16"): torch.float16,
    np.dtype("int32"): torch.int32, np.dtype("int16"): torch.int16,
    np.dtype("int8"): torch.int8, np.dtype("uint8"): torch.uint8,
    np.dtype("uint16"): torch.uint16, np.dtype("bool"): torch.bool,
    np.dtype("int64"): torch.int64, np.dtype("float64"): torch.float64,
    bfloat16: torch.bfloat16,
}


def torch_dtype(dtype: Any) -> torch.dtype:
    """The torch dtype for a numpy dtype or dtype name."""
    return TORCH_DTYPES[np.dtype(dtype)]


def to_numpy(array: torch.Tensor) -> np.ndarray:
    """A torch tensor's values as a numpy array on the host (uint16 and bfloat16 kept:
    numpy has neither in torch's view, so their bits come back as int16 and are viewed)."""
    t = array.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype == torch.uint16:
        return t.to(torch.int32).numpy().astype(np.uint16)
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(bfloat16)
    return t.numpy()


def torch_device(device: str | None) -> torch.device:
    """Map a MegEngine device name to a torch device (``xpux``: CUDA when available)."""
    kind, index = parse_device(device or "xpux")
    if kind in ("gpu", "xpu") and torch.cuda.is_available():
        return torch.device("cuda", max(index, 0))
    return torch.device("cpu")
