"""Second moments of a Conv2d/Linear layer's input columns (the statistics a layer-wise
reconstruction of its weights needs; used by :func:`~.adaround`).

For a layer ``y = W x`` (a convolution seen as a matrix product over its im2col columns,
one product per group) and a change of weights ``W -> V``, the squared output error over
calibration columns ``x_q`` (the quantized network's input) against the float network's
``y = W x`` is

    ``sum ||V x_q - W x||^2 = tr(V A V^T) - 2 tr(V B W^T) + tr(W D W^T)``

with ``A = sum x_q x_q^T``, ``B = sum x_q x^T`` and ``D = sum x x^T``: ``K x K``
matrices per group (``K`` = input channels per group x kernel area), so the error of any
weight choice is known without running the layer again.

Example:
    >>> import numpy as np
    >>> from mge.quantization.layer_stats import conv_columns
    >>> x = np.arange(2 * 1 * 3 * 3, dtype="float32").reshape(2, 1, 3, 3)
    >>> conv_columns(x, (2, 2), groups=1).shape  # (groups, K, N * out positions)
    (1, 4, 8)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_columns(
    x: np.ndarray, kernel: int | tuple[int, int], groups: int,
    stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> np.ndarray:
    """im2col of a cross-correlation's input ``x`` (``N, C, H, W``): ``(groups, C / groups
    * kh * kw, N * OH * OW)``, rows ordered as the weight ``(C / groups, kh, kw)``
    flattens."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(kernel), _pair(stride), _pair(padding),
                                              _pair(dilation))
    n, c, h, w = x.shape
    if c % groups:
        raise ValueError(f"conv_columns: {c} input channels do not split into {groups} groups")
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if kh == kw == 1 and sh == sw == 1 and ph == pw == 0:
        return x.reshape(n, groups, c // groups, h * w).transpose(1, 2, 0, 3).reshape(
            groups, c // groups, n * h * w)
    cols = np.empty((groups, c // groups, kh, kw, n, oh, ow), dtype=x.dtype)
    xg = x.reshape(n, groups, c // groups, *x.shape[2:]).transpose(1, 2, 0, 3, 4)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xg[:, :, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                                  j * dw:j * dw + sw * (ow - 1) + 1:sw]
    return cols.reshape(groups, c // groups * kh * kw, n * oh * ow)


@dataclass
class LayerStats:
    """Running ``A = sum x_q x_q^T``, ``B = sum x_q x^T``, ``D = sum x x^T`` (float64,
    ``(groups, K, K)``) over ``count`` columns."""

    quant: np.ndarray
    cross: np.ndarray
    float: np.ndarray
    count: int = 0

    @classmethod
    def zeros(cls, groups: int, k: int) -> LayerStats:
        """Empty statistics for ``groups`` blocks of ``k`` rows."""
        return cls(*(np.zeros((groups, k, k)) for _ in range(3)))

    def add(self, cols_q: np.ndarray, cols_f: np.ndarray | None,
            mask: np.ndarray | None = None) -> None:
        """Accumulate columns ``(groups, K, M)`` of the quantized and float inputs (None:
        the same as the quantized); ``mask`` ``(groups, M)``: count only the columns where
        it is true, per group (``count`` still grows by ``M``)."""
        if cols_f is None:
            cols_f = cols_q
        kept_q = cols_q if mask is None else cols_q * mask[:, None, :]
        kept_f = cols_f if mask is None else cols_f * mask[:, None, :]
        self.quant += np.matmul(kept_q, cols_q.transpose(0, 2, 1))
        self.cross += np.matmul(kept_q, cols_f.transpose(0, 2, 1))
        self.float += np.matmul(kept_f, cols_f.transpose(0, 2, 1))
        self.count += cols_q.shape[2]

    def row_errors(self, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Mean over columns of ``(V x_q - W x)^2`` per output channel, ``(groups, out per
        group)``, for weights ``V``, ``W`` of shape ``(groups, out per group, K)``."""
        total = (np.sum(np.matmul(v, self.quant) * v, axis=-1)
                 - 2 * np.sum(np.matmul(v, self.cross) * w, axis=-1)
                 + np.sum(np.matmul(w, self.float) * w, axis=-1))
        return total / max(self.count, 1)

    def error(self, v: np.ndarray, w: np.ndarray) -> float:
        """Mean over columns of ``||V x_q - W x||^2`` (summed over output channels) for
        weights ``V``, ``W`` of shape ``(groups, out per group, K)``."""
        return float(np.sum(self.row_errors(v, w)))


__all__ = ["LayerStats", "conv_columns"]
