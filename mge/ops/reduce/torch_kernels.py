"""torch kernels for Reduce, Argmax, Argmin, TopK and ArgsortForward (numpy's semantics:
floats reduced in float32, integers in int64 then wrapped; stable sorting)."""

from __future__ import annotations

import numpy as np
import torch

from ...core.opdef import TensorInfo, normalize_axis
from .. import reduce as R
from ..registry import TORCH
from ..torch_arrays import torch_dtype


def _np_dtype(x: torch.Tensor) -> np.dtype:
    return np.dtype(str(x.dtype).removeprefix("torch."))


def _reduce_all(mode: str, x: torch.Tensor) -> torch.Tensor:
    if mode in ("SUM", "SUM_SQR", "MEAN"):
        return x.sum()
    return {"PRODUCT": torch.prod, "MIN": torch.amin, "MAX": torch.amax}[mode](x)


def _reduce_axis(mode: str, x: torch.Tensor, axis: int) -> torch.Tensor:
    if mode in ("SUM", "SUM_SQR", "MEAN"):
        return x.sum(dim=axis, keepdim=True)
    if mode == "PRODUCT":
        return x.prod(dim=axis, keepdim=True)
    fn = torch.amin if mode == "MIN" else torch.amax
    return fn(x, dim=axis, keepdim=True)


@TORCH.kernel(R.Reduce)
def reduce(op: R.Reduce, x: torch.Tensor) -> torch.Tensor:
    out_dtype = op.infer([TensorInfo(tuple(x.shape), _np_dtype(x))])[0].dtype
    work = x.float() if x.is_floating_point() else x.long()
    if op.mode == "SUM_SQR":
        work = work * work
    if op.axis == R.REDUCE_ALL:
        out, n = _reduce_all(op.mode, work), x.numel()
    else:
        axis = normalize_axis(op, op.axis, x.ndim)
        out, n = _reduce_axis(op.mode, work, axis), x.shape[axis]
    if op.mode == "MEAN":
        out = out.double() / n if out.dtype == torch.int64 else out / n
    return out.to(torch_dtype(out_dtype))


@TORCH.kernel(R.Argmax, R.Argmin)
def arg_reduce(op: R.Argmax, x: torch.Tensor) -> torch.Tensor:
    fn = torch.argmax if isinstance(op, R.Argmax) else torch.argmin
    return fn(x, dim=normalize_axis(op, op.axis, x.ndim), keepdim=True).to(torch.int32)


@TORCH.kernel(R.TopK)
def topk(op: R.TopK, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    values, idx = _sorted_rows(x, descending=op.k < 0)
    k = abs(op.k)
    if op.mode == "KTH_ONLY":
        return values[:, k - 1].contiguous()
    return values[:, :k].contiguous(), idx[:, :k].to(torch.int32)


@TORCH.kernel(R.ArgsortForward)
def argsort(op: R.ArgsortForward, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    values, idx = _sorted_rows(x, descending=op.order == "DESCENDING")
    return values, idx.to(torch.int32)


def _sorted_rows(x: torch.Tensor, descending: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows sorted stably; descending is the ascending order reversed (equal values last
    index first, as MegEngine)."""
    values, idx = torch.sort(x, dim=1, stable=True)
    return (values.flip(1), idx.flip(1)) if descending else (values, idx)


@TORCH.kernel(R.Cumsum)
def cumsum(op: R.Cumsum, x: torch.Tensor) -> torch.Tensor:
    axis = op.axis % x.ndim
    src = torch.flip(x, (axis,)) if op.reverse else x
    out = torch.cumsum(src, dim=axis, dtype=x.dtype)
    if op.exclusive:
        out = torch.cat([torch.zeros_like(out.narrow(axis, 0, min(1, x.shape[axis]))),
                         out.narrow(axis, 0, max(x.shape[axis] - 1, 0))], dim=axis)
    return torch.flip(out, (axis,)) if op.reverse else out
