"""torch kernels for the shape, creation and indexing ops of :mod:`mge.ops.shape`.

torch has no negative-step slicing: such slices are taken with the positive step and
flipped. A 0-d index tensor is an integer index in torch but an advanced index in
numpy; mixed with other index tensors it is given shape (1,), which broadcasts the same.
"""

from __future__ import annotations

import numpy as np
import torch

from ...core.opdef import TensorInfo, normalize_axis
from ...device import get_default_device
from .. import shape as S
from ..registry import TORCH, Prepared, PrepareSite
from ..torch_arrays import to_numpy, torch_device, torch_dtype


def _info(t: torch.Tensor) -> TensorInfo:
    return TensorInfo(tuple(t.shape), np.dtype("int32"))


@TORCH.kernel(S.Reshape)
def reshape(op: S.Reshape, x: torch.Tensor, *shape: torch.Tensor) -> torch.Tensor:
    if shape:
        op = op.with_sources([shape[0].cpu().numpy()])
    return x.reshape(op.target_shape([_info(x)]))


@TORCH.kernel(S.Broadcast)
def broadcast(op: S.Broadcast, x: torch.Tensor, *shape: torch.Tensor) -> torch.Tensor:
    if shape:
        op = op.with_sources([shape[0].cpu().numpy()])
    return x.expand(op.shape)


@TORCH.kernel(S.Dimshuffle)
def dimshuffle(op: S.Dimshuffle, x: torch.Tensor) -> torch.Tensor:
    used = [p for p in op.pattern if p != -1]
    dropped = [i for i in range(x.ndim) if i not in used]
    return x.permute(used + dropped).reshape(op.infer([_info(x)])[0].shape)


@TORCH.kernel(S.AxisAddRemove)
def axis_add_remove(op: S.AxisAddRemove, x: torch.Tensor) -> torch.Tensor:
    return x.reshape(op.output_shape(tuple(x.shape)))


@TORCH.kernel(S.Concat)
def concat(op: S.Concat, *xs: torch.Tensor) -> torch.Tensor:
    return torch.cat(xs, dim=op.axis)


def _pad_index(n: int, front: int, back: int, mode: str, device: torch.device) -> torch.Tensor:
    """Source positions of a REPLICATE/REFLECT-padded axis of length ``n``."""
    pos = torch.arange(-front, n + back, device=device)
    if mode == "REPLICATE":
        return pos.clamp(0, n - 1)
    pos = pos.abs()
    return torch.where(pos >= n, 2 * (n - 1) - pos, pos)


@TORCH.kernel(S.Padding)
def padding(op: S.Padding, x: torch.Tensor) -> torch.Tensor:
    widths = op.pad_width(x.ndim)
    if op.padding_mode == "CONSTANT":
        out_shape = [d + f + b for d, (f, b) in zip(x.shape, widths, strict=True)]
        fill = torch.tensor(op.padding_val, dtype=torch.float64).to(x.dtype).item()
        out = torch.full(out_shape, fill, dtype=x.dtype, device=x.device)
        out[tuple(slice(f, f + d) for d, (f, _) in zip(x.shape, widths, strict=True))] = x
        return out
    for axis, (front, back) in enumerate(widths):
        if front or back:
            index = _pad_index(x.shape[axis], front, back, op.padding_mode, x.device)
            x = x.index_select(axis, index)
    return x


@TORCH.kernel(S.GetVarShape)
def get_var_shape(op: S.GetVarShape, x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(op.infer([_info(x)])[0].value).to(x.device)


def _device() -> torch.device:
    return torch_device(get_default_device())


@TORCH.kernel(S.Fill, S.Alloc)
def fill(op: S.Fill) -> torch.Tensor:
    dt = op.out_dtype()
    return torch.full(op.shape, np.array(op.value).astype(dt).item(), dtype=torch_dtype(dt),
                      device=_device())


@TORCH.kernel(S.Linspace)
def linspace(op: S.Linspace, *sources: torch.Tensor) -> torch.Tensor:
    op = op.with_sources([s.cpu().numpy() for s in sources]) if sources else op
    n = op.num + (0 if op.endpoint else 1)
    out = torch.linspace(op.start, op.stop, n, dtype=torch.float64, device=_device())
    return out[:op.num].to(torch.float32)


@TORCH.kernel(S.Eye)
def eye(op: S.Eye, *shape: torch.Tensor) -> torch.Tensor:
    op = op.with_sources([shape[0].cpu().numpy()]) if shape else op
    rows, cols = op.dims
    dev = _device()
    diag = torch.arange(cols, device=dev)[None, :] - torch.arange(rows, device=dev)[:, None]
    return (diag == op.k).to(torch_dtype(op.out_dtype()))


def _indices(op: S.IndexingOp, ndim: int, indices: tuple) -> dict[int, torch.Tensor]:
    """Index tensors by the input axis they index (0-d ones as (1,) when mixed)."""
    axes = [normalize_axis(op, item[0], ndim) for item in op.items if item[4] is True]
    tensors = [t.long() for t in indices]
    if any(t.ndim for t in tensors):
        tensors = [t.reshape(1) if t.ndim == 0 else t for t in tensors]
    return dict(zip(axes, tensors, strict=True))


def _torch_index(op: S.IndexingOp, x: torch.Tensor, indices: tuple) -> tuple[tuple, list[int]]:
    """The torch index for ``op.items`` and the input axes whose slices must be flipped."""
    by_axis = _indices(op, x.ndim, indices)
    index, flips = [], []
    for axis, sel in enumerate(op.resolve(tuple(x.shape))):
        if sel.kind == "vec":
            index.append(by_axis[axis])
        elif sel.kind == "index":
            index.append(sel.start)
        else:
            index.append(sel.as_positive_slice())
            if sel.step < 0 and sel.count > 1:
                flips.append(axis)
    return tuple(index), flips


def _infos(op: S.IndexingOp, x: torch.Tensor, indices: tuple) -> list[TensorInfo]:
    return [_info(x)] * op.nr_data_inputs + [_info(t) for t in indices]


@TORCH.kernel(S.Subtensor, S.IndexingMultiAxisVec)
def subtensor(op: S.IndexingOp, x: torch.Tensor, *indices: torch.Tensor) -> torch.Tensor:
    index, flips = _torch_index(op, x, indices)
    if not flips:
        return x[index]
    basic = tuple(slice(None) if isinstance(i, torch.Tensor) else i for i in index)
    y = x[basic]
    n_int = [sum(1 for i in index[:a] if isinstance(i, int)) for a in flips]
    y = y.flip([a - k for a, k in zip(flips, n_int, strict=True)])
    if indices:
        y = y[tuple(i if isinstance(i, torch.Tensor) else slice(None) for i in index)]
    return y


@TORCH.kernel(S.SetSubtensor, S.IndexingSetMultiAxisVec)
def set_subtensor(op: S.IndexingOp, x: torch.Tensor, value: torch.Tensor,
                  *indices: torch.Tensor) -> torch.Tensor:
    index, flips = _torch_index(op, x, indices)
    if flips:
        _, out_axis = op.result_layout(_infos(op, x, indices))
        value = value.flip([out_axis[a] for a in flips])
    out = x.clone()
    out[index] = value
    return out


@TORCH.kernel(S.IndexingIncrMultiAxisVec)
def incr_indexing(op: S.IndexingIncrMultiAxisVec, x: torch.Tensor, value: torch.Tensor,
                  *indices: torch.Tensor) -> torch.Tensor:
    """Each indexed element's flat position (the getter run on ``arange``), then
    ``index_add_``: repeated positions add up."""
    positions = torch.arange(x.numel(), device=x.device).reshape(x.shape)
    where = subtensor(op, positions, *indices).reshape(-1)
    out = x.clone(memory_format=torch.contiguous_format)
    out.view(-1).index_add_(0, where, value.reshape(-1).to(out.dtype))
    return out


# ------------------------------------------------------------------ plan preparation
@TORCH.preparer(S.Padding)
def prepare_padding(op: S.Padding, site: PrepareSite) -> Prepared | None:
    """Constant padding that keeps the input's memory format (channels-last stays so)."""
    if site.host is None or op.padding_mode != "CONSTANT":
        return None
    x, out = site.inputs[0], site.outputs[0]
    widths = op.pad_width(x.ndim)
    inner = tuple(slice(f, f + d) for d, (f, _) in zip(x.shape, widths, strict=True))
    borders = []  # the padded slabs, one per side of each padded axis
    for axis, (front, back) in enumerate(widths):
        lead = (slice(None),) * axis
        borders += [lead + (slice(0, front),)] if front else []
        borders += [lead + (slice(front + x.shape[axis], None),)] if back else []
    value = float(op.padding_val)
    cl = torch.channels_last

    def run(t: torch.Tensor) -> torch.Tensor:
        fmt = cl if t.ndim == 4 and t.is_contiguous(memory_format=cl) else torch.contiguous_format
        y = torch.empty(out.shape, dtype=t.dtype, device=t.device, memory_format=fmt)
        y[inner] = t
        for border in borders:
            y[border] = value
        return y

    return Prepared(run, (0,))


@TORCH.kernel(S.Diag)
def diag(op: S.Diag, x: torch.Tensor) -> torch.Tensor:
    return torch.diag(x, op.k).contiguous()


@TORCH.kernel(S.CondTake)
def cond_take(op: S.CondTake, data: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The condition is evaluated on the host (the output size needs it there anyway)."""
    index = torch.from_numpy(np.flatnonzero(op.selected(to_numpy(mask)))).to(data.device)
    op.check_count(int(index.numel()))
    return data.reshape(-1)[index], index.to(torch.int32)
