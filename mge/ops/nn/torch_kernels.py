"""torch kernels: ``MatrixMul``, ``BatchedMatrixMul``, ``BatchNormForward``, ``BatchNormBackward``
(aten's fused batch-norm backward for per-channel float32 statistics), ``SoftmaxForward``."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as tF

from ..registry import TORCH, Prepared, PrepareSite
from ..torch_arrays import to_numpy
from . import (
    LRN,
    BatchedMatrixMul,
    BatchNormBackward,
    BatchNormForward,
    GeneralNorm,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    MatrixInverse,
    MatrixMul,
    SoftmaxForward,
    bn_reduce_axes,
)
from .multi_head_attn import AttnArrays, MultiHeadAttn, attention
from .numpy_svd import svd as numpy_svd
from .svd import SVD


@TORCH.kernel(MatrixMul, BatchedMatrixMul)
def matrix_mul(op: MatrixMul, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if op.transposeA:
        a = a.transpose(-1, -2)
    if op.transposeB:
        b = b.transpose(-1, -2)
    return torch.matmul(a, b)


_EMPTIES: dict[tuple, torch.Tensor] = {}


def _empty(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A shared size-0 tensor (BatchNorm's unused outputs), allocated once per dtype/device."""
    key = (dtype, device)
    if key not in _EMPTIES:
        _EMPTIES[key] = torch.empty((0,), dtype=dtype, device=device)
    return _EMPTIES[key]


@TORCH.kernel(MatrixInverse)
def matrix_inverse(op: MatrixInverse, x: torch.Tensor) -> torch.Tensor:
    bad = ~torch.isfinite(x).all(-1).all(-1)  # a NaN or Inf makes every entry undefined
    eye = torch.eye(x.shape[-1], dtype=torch.float64, device=x.device)
    inv, info = torch.linalg.inv_ex(torch.where(bad[..., None, None], eye, x.double()))
    if x.numel() and bool((info != 0).any()):
        raise op.singular()
    return inv.masked_fill(bad[..., None, None], float("nan")).to(x.dtype)


@TORCH.kernel(BatchNormForward)
def batch_norm(
    op: BatchNormForward, x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor,
    *stats: torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    pshape = tuple(scale.shape)
    axes = bn_reduce_axes(pshape, x.ndim)
    view = pshape[: x.ndim]
    empty = _empty(scale.dtype, scale.device)
    running = (empty, empty)
    reserve = _empty(torch.uint8, x.device)
    if op.fwd_mode == "INFERENCE" and axes == (0, *range(2, x.ndim)) and x.dtype == scale.dtype:
        # per-channel statistics over axis 1: torch's fused kernel
        y = tF.batch_norm(x, stats[0].reshape(-1), stats[1].reshape(-1), scale.reshape(-1),
                          bias.reshape(-1), False, 0.0, op.epsilon)
        return (*running, stats[0], torch.rsqrt(stats[1] + op.epsilon), reserve, y)
    count = x.numel() // max(scale.numel(), 1)
    if (op.fwd_mode == "TRAINING" and axes == (0, *range(2, x.ndim)) and count > 1
            and x.dtype == scale.dtype == torch.float32):
        # per-channel statistics over axis 1: torch's fused kernel (two passes, as numpy)
        updated = tuple(s.reshape(-1).clone() for s in stats) or (None, None)
        y, mean, inv_std = torch.native_batch_norm(
            x, scale.reshape(-1), bias.reshape(-1), *updated, True, op.avg_factor, op.epsilon)
        if stats:
            running = tuple(r.reshape(pshape) for r in updated)
        return (*running, mean.reshape(pshape), inv_std.reshape(pshape), reserve, y)
    xf = x.float()
    if op.fwd_mode == "INFERENCE":
        mean = stats[0].float().reshape(view)
        inv_std = torch.rsqrt(stats[1].float().reshape(view) + op.epsilon)
    else:
        # two passes as numpy's (torch.var_mean's one-pass update turns an Inf into NaN)
        mean = xf.mean(dim=axes, keepdim=True)
        var = torch.square(xf - mean).mean(dim=axes, keepdim=True)
        inv_std = torch.rsqrt(var + op.epsilon)
        if op.needs_stats(3 + len(stats)):
            count = x.numel() // max(mean.numel(), 1)
            unbiased = var * count / (count - 1) if count > 1 else var * float("nan")
            f = op.avg_factor
            running = tuple(
                ((1 - f) * s.float() + f * new.reshape(pshape)).to(scale.dtype)
                for s, new in zip(stats, (mean, unbiased), strict=True)
            )
    y = (xf - mean) * inv_std * scale.reshape(view).float() + bias.reshape(view).float()
    save = (mean.reshape(pshape).to(scale.dtype), inv_std.reshape(pshape).to(scale.dtype))
    return (*running, *save, reserve, y.to(x.dtype))


@TORCH.kernel(BatchNormBackward)
def batch_norm_backward(
    op: BatchNormBackward, x: torch.Tensor, dy: torch.Tensor, mean: torch.Tensor,
    inv: torch.Tensor, scale: torch.Tensor, reserve: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pshape = tuple(scale.shape)
    axes = bn_reduce_axes(pshape, x.ndim)
    f32 = torch.float32
    if (op.fwd_mode == "TRAINING" and axes == (0, *range(2, x.ndim))
            and x.dtype == dy.dtype == scale.dtype == f32):
        dx, dscale, dbias = torch.ops.aten.native_batch_norm_backward(
            dy, x, scale.reshape(-1), None, None, mean.reshape(-1), inv.reshape(-1), True,
            op.epsilon, [True, True, True])
        return dscale.reshape(pshape), dbias.reshape(pshape), dx
    view = pshape[: x.ndim]
    dyf = dy.float()
    inv, scalef = inv.float().reshape(view), scale.float().reshape(view)
    xhat = (x.float() - mean.float().reshape(view)) * inv
    dbias = dyf.sum(dim=axes, keepdim=True)
    dscale = (dyf * xhat).sum(dim=axes, keepdim=True)
    if op.fwd_mode == "TRAINING":
        count = x.numel() // max(dbias.numel(), 1)
        dx = (dyf - dbias / count - xhat * (dscale / count)) * (scalef * inv)
    else:
        dx = dyf * (scalef * inv)
    return (dscale.reshape(pshape).to(scale.dtype), dbias.reshape(pshape).to(scale.dtype),
            dx.to(x.dtype))


@TORCH.kernel(SoftmaxForward)
def softmax(op: SoftmaxForward, x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, op.axis)


def _standardize(x: torch.Tensor, groups: tuple[int, ...], eps: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """numpy's ``_standardize``: two passes in float32 over ``x`` viewed as ``groups + (-1,)``."""
    xf = x.float().reshape(*groups, -1)
    mean = xf.mean(dim=-1, keepdim=True)
    var = torch.square(xf - mean).mean(dim=-1, keepdim=True)
    y = (xf - mean) * torch.rsqrt(var + eps)
    return y.reshape(x.shape), mean.reshape(groups), var.reshape(groups)


@TORCH.kernel(LayerNorm)
def layer_norm(op: LayerNorm, x: torch.Tensor, *affine: torch.Tensor
               ) -> tuple[torch.Tensor, ...]:
    lead = tuple(x.shape[: x.ndim - op.normalized_dim])
    y, mean, var = _standardize(x, lead, op.eps)
    if affine:
        view = tuple(x.shape[len(lead):])
        y = y * affine[0].reshape(view).float() + affine[1].reshape(view).float()
    return y.to(x.dtype), mean, torch.rsqrt(var + op.eps)


@TORCH.kernel(GroupNorm, InstanceNorm)
def group_norm(op: GroupNorm, x: torch.Tensor, *affine: torch.Tensor
               ) -> tuple[torch.Tensor, ...]:
    n, c = x.shape[:2]
    y, mean, var = _standardize(x, (n, op.groups(c)), op.eps)
    if affine:
        y = y * affine[0].reshape(1, c, 1, 1).float() + affine[1].reshape(1, c, 1, 1).float()
    return y.to(x.dtype), mean, var


# ------------------------------------------------------------------ plan preparation
@TORCH.kernel(GeneralNorm)
def general_norm(op: GeneralNorm, x: torch.Tensor, *affine: torch.Tensor
                 ) -> tuple[torch.Tensor, ...]:
    axes = tuple(range(op.axis_start, op.axis_end))
    xf = x.float()
    mean = xf.mean(dim=axes, keepdim=True)
    centered = xf - mean
    rstd = torch.rsqrt(centered.square().mean(dim=axes, keepdim=True) + op.eps)
    y = centered * rstd
    if affine:
        view = op.param_view(x.ndim, tuple(x.shape))
        y = y * affine[0].reshape(view).float() + affine[1].reshape(view).float()
    rest = tuple(x.shape[: op.axis_start]) + tuple(x.shape[op.axis_end:])
    return y.to(x.dtype), mean.reshape(rest), rstd.reshape(rest)


@TORCH.kernel(LRN)
def lrn(op: LRN, x: torch.Tensor) -> torch.Tensor:
    x32 = x.float()
    half = op.n // 2
    sq = tF.pad(x32.square(), (0, 0, 0, 0, half, half))
    total = sum(sq[:, i: i + x.shape[1]] for i in range(op.n))
    return (x32 * (op.k + op.alpha * total).pow(-op.beta)).to(x.dtype)


@TORCH.preparer(MatrixMul)
def prepare_matmul(op: MatrixMul, site: PrepareSite) -> Prepared | None:
    """``A @ constant B`` in a plan: ``linear`` with the weight laid out once."""
    b, host = site.consts[1], site.host
    if host is None or b is None or b.ndim != 2 or op.transposeA or site.inputs[0].ndim != 2:
        return None
    weight = host.prepared(b, f"linear-{op.transposeB}", lambda v: host.asarray(
        np.ascontiguousarray(v if op.transposeB else v.T)))
    linear, wdtype = tF.linear, weight.dtype
    return Prepared(lambda a: linear(a if a.dtype == wdtype else a.to(wdtype), weight), (0,))


@TORCH.kernel(SVD)
def svd(op: SVD, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """MegEngine's singular-vector signs come from its own iteration (torch's LAPACK picks
    others), so this runs the numpy kernel on the values."""
    return tuple(torch.from_numpy(o).to(x.device) for o in numpy_svd(op, to_numpy(x)))


class _TorchArrays(AttnArrays):
    """The attention kernel's primitives on torch tensors."""

    def matmul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)

    def transpose(self, x: torch.Tensor, perm: tuple[int, ...]) -> torch.Tensor:
        return x.permute(perm)

    def expand(self, x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        return x.expand(shape)

    def const(self, value: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(value).to(like.device)

    def softmax(self, x: torch.Tensor) -> torch.Tensor:
        e = torch.exp(x - x.amax(dim=-1, keepdim=True))
        return e / e.sum(dim=-1, keepdim=True)


@TORCH.kernel(MultiHeadAttn)
def multi_head_attn(op: MultiHeadAttn, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    packed: torch.Tensor, *mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    out, weights = attention(_TorchArrays(), op, q, k, v, packed, mask[0] if mask else None)
    mask_bytes, othr = op.reserve_sizes(q.shape[0], q.shape[1], k.shape[1])
    return (out.contiguous(), weights.contiguous(),
            torch.zeros(mask_bytes, dtype=torch.uint8, device=q.device),
            torch.zeros(othr, dtype=q.dtype, device=q.device))
