"""Gradient rule of ``CvtColorForward`` (the float32 modes).

Every float32 mode maps each pixel's channels by a fixed affine map (``RGB2GRAY``,
``BGR2GRAY``, ``RGB2YUV``, ``YUV2RGB``, ``GRAY2RGB``), so ``dx = dy J`` per pixel with
``J`` the ``(out channels, in channels)`` matrix. The rule obtains ``J`` from the op
itself, as the resize rule obtains its matrices: it converts a probe image whose first
pixel is black and pixel ``1 + i`` is the unit colour ``e_i``; ``J[:, i]`` is pixel
``1 + i``'s colour less the first's (the offsets cancel). The uint8 modes have no
gradient (integer images).

Example:
    >>> CvtColorForward.grad_rule is cvt_color_grad
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..nn import MatrixMul
from ..registry import grad_rule
from .color import PACKED, CvtColorForward
from .numpy_color import cvt_color
from .numpy_kernels import NUMPY_OPS

if TYPE_CHECKING:
    from ...core.autodiff.context import GradContext
    from ...core.tensor.base import Tensor


def color_jacobian(op: CvtColorForward) -> np.ndarray:
    """``J`` (out channels, in channels) of a float32 packed mode, from the numpy kernel."""
    cin, _ = PACKED[op.mode]
    probe = np.concatenate([np.zeros((1, cin), np.float32), np.eye(cin, dtype=np.float32)])
    out = np.asarray(cvt_color(NUMPY_OPS, op, probe.reshape(1, 1, cin + 1, cin)),
                     np.float64)[0, 0]
    return (out[1:] - out[:1]).T


@grad_rule(CvtColorForward)
def cvt_color_grad(op: CvtColorForward, ctx: GradContext) -> list[Tensor | None]:
    """``dx = dy J`` per pixel (float32 images)."""
    x, dy = ctx.inputs[0], ctx.grad(0)
    if x.dtype != np.float32 or op.mode not in PACKED:
        raise NotImplementedError(f"no gradient rule for {op} on {x.dtype} images (float32 "
                                  "per-pixel modes only)")
    jac = color_jacobian(op)
    n, h, w, cin = x.shape
    flat = ctx.reshape(dy, (n * h * w, jac.shape[0]))
    dx = ctx.one(MatrixMul(), flat, ctx.const(jac.astype(dy.dtype), dy, jac.shape))
    return [ctx.reshape(dx, (n, h, w, cin))]


__all__ = ["color_jacobian", "cvt_color_grad"]
