"""C-contiguous copies of the weights an export hands to the engine as arrays.

A ``MatrixMul`` with ``transposeB`` that is not a float32 ``Linear`` (those export as
``Gemm(transB=1)`` on the weight as stored) exports its constant weight transposed
(ONNX's ``MatMul`` has no transpose flag): a view whose rows lie a whole source row apart. numpy
copies such a view element by element down the source's columns, and with a row of
1024 float32 (4 KiB: every element of a column maps to the same cache set) that ran at
a third of the speed of a copy in 64 x 64 tiles, which reads and writes whole cache
lines: 5.2 -> 1.8 ms CPU for ShuffleNetV2's 1024 x 1000 classifier, on each cold load.

Example:
    >>> w = np.arange(6, dtype=np.float32).reshape(2, 3).T
    >>> c_contiguous(w).flags.c_contiguous, bool((c_contiguous(w) == w).all())
    (True, True)
"""

from __future__ import annotations

import numpy as np

#: the side of the tiles a transposed matrix is copied in
TILE = 64
#: smaller arrays take numpy's copy (the tiles' Python loop would cost more than it saves)
TILED_MIN_BYTES = 1 << 18


def c_contiguous(value: np.ndarray) -> np.ndarray:
    """``value`` itself when C-contiguous, else a C-contiguous copy (the same elements):
    a large 2-D array laid out by columns (a transposed matrix) is copied in tiles."""
    if value.flags.c_contiguous or value.ndim != 2 or value.nbytes < TILED_MIN_BYTES or \
            abs(value.strides[0]) >= abs(value.strides[1]):
        return np.ascontiguousarray(value)
    out = np.empty(value.shape, value.dtype)
    rows, cols = value.shape
    for i in range(0, rows, TILE):
        for j in range(0, cols, TILE):
            out[i:i + TILE, j:j + TILE] = value[i:i + TILE, j:j + TILE]
    return out


__all__ = ["TILE", "TILED_MIN_BYTES", "c_contiguous"]
