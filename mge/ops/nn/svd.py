"""``SVD``: singular value decomposition of each ``(m, n)`` matrix of a float32 input
(MegEngine ``SVD``, params ``full_matrices``, ``compute_uv``).

Outputs ``u (..., m, k)``, ``s (..., k)``, ``vt (..., k, n)`` with ``k = min(m, n)``: ``s``
descending and ``x = u @ diag(s) @ vt``. Singular vectors are defined up to a sign per
pair; the kernels give MegEngine's CPU signs (those of its Golub-Kahan iteration, see
:mod:`.numpy_svd`). Without ``compute_uv``, ``u`` and ``vt`` are empty ``(0,)``.
``full_matrices`` with ``compute_uv`` is refused, as MegEngine's CPU kernel does.

Example:
    >>> [i.shape for i in SVD().infer([TensorInfo((2, 5, 3), np.dtype("float32"))])]
    [(2, 5, 3), (2, 3), (2, 3, 3)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, register_op

F32 = np.dtype("float32")


@register_op
class SVD(OpDef):
    """``(u, s, vt)`` of each matrix of a ``(..., m, n)`` float32 input."""

    type_name = "SVD"
    memory = Memory.FRESH
    mge_form = MgeForm("SVD", ("SVD",))
    nr_inputs = (1,)
    full_matrices: bool = False
    compute_uv: bool = True

    def mge_outputs(self, nr_inputs: int) -> tuple[int, int | None] | None:
        """Without ``compute_uv`` MegEngine marks ``u`` and ``vt`` volatile: a file lists
        only ``s``."""
        return None if self.compute_uv else (1, 2)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        (x,) = inputs
        if x.ndim < 2 or 0 in x.shape[-2:]:
            self.fail("input must be batches of non-empty matrices (..., m, n)", inputs)
        if x.dtype != F32:
            self.fail(f"input must be float32 (MegEngine's kernel), got {x.dtype}", inputs)
        if self.full_matrices and self.compute_uv:
            self.fail("full_matrices with compute_uv is not supported (MegEngine's CPU "
                      "kernel refuses it too)", inputs)
        *batch, m, n = x.shape
        k = min(m, n)
        if not self.compute_uv:
            return [TensorInfo((0,), F32), TensorInfo((*batch, k), F32), TensorInfo((0,), F32)]
        return [TensorInfo((*batch, m, k), F32), TensorInfo((*batch, k), F32),
                TensorInfo((*batch, k, n), F32)]
