"""torch kernels: Network ops: MatrixMul, BatchedMatrixMul, BatchNormForward, SoftmaxForward."""

from __future__ import annotations
