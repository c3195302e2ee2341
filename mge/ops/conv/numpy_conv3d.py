"""numpy kernels of the 3-d convolutions: one matrix product per kernel offset (the
forward sums ``W[:, :, offset] @ strided slice``; the transposed one scatter-adds
``W[:, :, offset]^T @ diff`` into strided slices), in float32."""

from __future__ import annotations

import itertools

import numpy as np

from ..registry import NUMPY
from .conv3d import Conv3DBase, Conv3DGeometry, Convolution3DBackwardData, Convolution3DForward

F32 = np.dtype("float32")


def _slices(op: Conv3DBase, offset: tuple[int, ...], size: tuple[int, ...]
            ) -> tuple[slice, ...]:
    """The input positions kernel tap ``offset`` meets for an output of ``size``."""
    return tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                 for o, d, s, n in zip(offset, op.dilates, op.strides, size, strict=True))


@NUMPY.kernel(Convolution3DForward)
def convolution3d(op: Convolution3DForward, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    w = op.canonical_filter(w).astype(F32)
    groups, ocpg, icpg, *kernel = w.shape
    n = x.shape[0]
    pads = [(0, 0), (0, 0), *((p, p) for p in op.pads)]
    xp = np.pad(x.astype(F32), pads).reshape(n, groups, icpg, *(s + 2 * p for s, p in zip(
        x.shape[2:], op.pads, strict=True)))
    size = op.forward_size(x.shape[2:], kernel)
    out = np.zeros((n, groups, ocpg, int(np.prod(size))), F32)
    for offset in itertools.product(*map(range, kernel)):
        part = xp[(slice(None),) * 3 + _slices(op, offset, size)]
        out += np.matmul(w[(..., *offset)], part.reshape(n, groups, icpg, -1))
    return out.reshape(n, groups * ocpg, *size).astype(x.dtype)


@NUMPY.kernel(Convolution3DBackwardData)
def convolution3d_backward_data(op: Convolution3DBackwardData, w: np.ndarray,
                                diff: np.ndarray) -> np.ndarray:
    w = op.canonical_filter(w).astype(F32)
    groups, ocpg, icpg, *kernel = w.shape
    n, _, *size = diff.shape
    out = op.out_size(Conv3DGeometry(n, groups, ocpg, icpg, tuple(size), tuple(kernel)))
    full = [max((d - 1) * s + (k - 1) * dl + 1, o + 2 * p) for d, k, s, dl, o, p in zip(
        size, kernel, op.strides, op.dilates, out, op.pads, strict=True)]
    buf = np.zeros((n, groups, icpg, *full), F32)
    d = diff.astype(F32).reshape(n, groups, ocpg, -1)
    for offset in itertools.product(*map(range, kernel)):
        part = np.matmul(np.swapaxes(w[(..., *offset)], 1, 2), d)
        buf[(slice(None),) * 3 + _slices(op, offset, tuple(size))] += part.reshape(
            n, groups, icpg, *size)
    crop = tuple(slice(p, p + o) for p, o in zip(op.pads, out, strict=True))
    return np.ascontiguousarray(buf[(slice(None),) * 3 + crop].reshape(
        n, groups * icpg, *out), dtype=diff.dtype)
