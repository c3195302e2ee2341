"""numpy kernels of the 3-d convolutions, and the n-d transposed convolution they share
with the 2-d ``ConvolutionBackwardData`` (all in float32).

The forward sums, per kernel tap, one matrix product of the tap's filter with the
strided input slice it meets; the transposed convolution multiplies the whole filter
with the diff once (``(icpg * taps, ocpg) @ (ocpg, n * positions)``) and scatter-adds
each tap's rows into its strided slice of the output.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..registry import NUMPY
from .conv3d import Conv3DGeometry, Convolution3DBackwardData, Convolution3DForward

F32 = np.dtype("float32")


def _taps(offset: Sequence[int], dilate: Sequence[int], stride: Sequence[int],
          size: Sequence[int]) -> tuple[slice, ...]:
    """The positions kernel tap ``offset`` meets for ``size`` window positions."""
    return tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                 for o, d, s, n in zip(offset, dilate, stride, size, strict=True))


def transposed_conv(w: np.ndarray, diff: np.ndarray, stride: Sequence[int],
                    pad: Sequence[int], dilate: Sequence[int], out: Sequence[int]
                    ) -> np.ndarray:
    """Transposed n-d convolution of NC... ``diff`` by the canonical filter ``w``
    ``(groups, ocpg, icpg, *kernel)``; returns float32 ``(n, groups * icpg, *out)``."""
    groups, ocpg, icpg, *kernel = w.shape
    n, _, *size = diff.shape
    positions = int(np.prod(size))
    d = diff.astype(F32).reshape(n, groups, ocpg, positions).transpose(1, 2, 0, 3)
    mat = w.astype(F32).reshape(groups, ocpg, -1).transpose(0, 2, 1)
    cols = np.matmul(mat, d.reshape(groups, ocpg, n * positions))
    cols = cols.reshape(groups, icpg, *kernel, n, *size)
    full = [max((i - 1) * s + (k - 1) * dl + 1, o + 2 * p) for i, k, s, dl, o, p in zip(
        size, kernel, stride, dilate, out, pad, strict=True)]
    buf = np.zeros((groups, icpg, n, *full), F32)
    for offset in itertools.product(*map(range, kernel)):
        tap = cols[(slice(None), slice(None), *offset)]
        buf[(slice(None),) * 3 + _taps(offset, dilate, stride, size)] += tap
    crop = tuple(slice(p, p + o) for p, o in zip(pad, out, strict=True))
    return np.moveaxis(buf[(slice(None),) * 3 + crop], 2, 0).reshape(n, groups * icpg, *out)


@NUMPY.kernel(Convolution3DForward)
def convolution3d(op: Convolution3DForward, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    w = op.canonical_filter(w).astype(F32)
    groups, ocpg, icpg, *kernel = w.shape
    n = x.shape[0]
    padded = [s + 2 * p for s, p in zip(x.shape[2:], op.pads, strict=True)]
    xp = np.pad(x.astype(F32), [(0, 0), (0, 0), *((p, p) for p in op.pads)])
    xp = xp.reshape(n, groups, icpg, *padded)
    size = op.forward_size(x.shape[2:], kernel)
    out = np.zeros((groups, ocpg, n * int(np.prod(size))), F32)
    for offset in itertools.product(*map(range, kernel)):
        part = xp[(slice(None),) * 3 + _taps(offset, op.dilates, op.strides, size)]
        part = np.moveaxis(part, 0, 2).reshape(groups, icpg, -1)
        out += np.matmul(np.ascontiguousarray(w[(..., *offset)]), part)
    out = np.moveaxis(out.reshape(groups, ocpg, n, *size), 2, 0)
    return np.ascontiguousarray(out.reshape(n, groups * ocpg, *size), dtype=x.dtype)


@NUMPY.kernel(Convolution3DBackwardData)
def convolution3d_backward_data(op: Convolution3DBackwardData, w: np.ndarray,
                                diff: np.ndarray) -> np.ndarray:
    w = op.canonical_filter(w)
    groups, ocpg, icpg, *kernel = w.shape
    out = op.out_size(Conv3DGeometry(diff.shape[0], groups, ocpg, icpg, tuple(diff.shape[2:]),
                                     tuple(kernel)))
    y = transposed_conv(w, diff, op.strides, op.pads, op.dilates, out)
    return np.ascontiguousarray(y, dtype=diff.dtype)
