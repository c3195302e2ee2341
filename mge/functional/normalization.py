"""Normalization over feature groups (MegEngine ``F.nn``): ``layer_norm``, ``group_norm``,
``instance_norm``, ``general_norm``, each one op (``LayerNorm``, ``GroupNorm``,
``InstanceNorm``, ``GeneralNorm``), and ``local_response_norm`` (``LRN``).

``y = (x - mean) / sqrt(var + eps)`` with the biased variance of each normalized slice,
then ``* weight + bias`` when ``affine``.

Example:
    >>> import numpy as np, mge, mge.functional as F
    >>> x = mge.tensor([[1.0, 3.0], [2.0, 2.0]])
    >>> F.nn.layer_norm(x, 2, affine=False).numpy().round(3)
    array([[-1.,  1.],
           [ 0.,  0.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.apply import apply
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..ops.nn import LRN, GeneralNorm, GroupNorm, InstanceNorm, LayerNorm
from ..ops.shape import Dimshuffle
from ._args import float_tensor


def _affine_inputs(fn: str, inp: Tensor, affine: bool, weight: Tensor | None,
                   bias: Tensor | None) -> list[Tensor]:
    if not affine:
        return [inp]
    # MegEngine's checks and words
    assert weight is not None, "weight must be provided if affine is True"
    assert bias is not None, "bias must be provided if affine is True"
    return [inp, float_tensor(fn, "weight", weight), float_tensor(fn, "bias", bias)]


@traceable
def layer_norm(inp: Tensor, normalized_shape: int | Sequence[int], affine: bool,
               weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5
               ) -> Tensor:
    """Normalize over the trailing dims ``normalized_shape`` (``weight``/``bias`` of that
    shape when ``affine``).

    Raises:
        ValueError: ``normalized_shape`` that is not the input's trailing dims.
        AssertionError: ``affine`` without ``weight`` or ``bias`` (as MegEngine).

    Example:
        >>> F.nn.layer_norm(mge.tensor(np.ones((2, 3), "float32")), 3, False).shape
        (2, 3)
    """
    fn = "layer_norm"
    x = float_tensor(fn, "inp", inp)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"{fn}: normalized_shape {shape} must be the trailing dims of input "
                         f"{x.shape}")
    op = LayerNorm(affine=affine, eps=float(eps), normalized_dim=len(shape),
                   normalized_size=int(np.prod(shape)))
    return apply(op, *_affine_inputs(fn, x, affine, weight, bias))[0]


@traceable
def group_norm(inp: Tensor, num_groups: int, affine: bool, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each of ``num_groups`` channel groups of every sample of an ``(N, C, H, W)``
    input (``weight``/``bias`` of shape ``(C,)`` when ``affine``).

    Example:
        >>> F.nn.group_norm(mge.tensor(np.ones((2, 4, 3, 3), "float32")), 2, False).shape
        (2, 4, 3, 3)
    """
    fn = "group_norm"
    x = float_tensor(fn, "inp", inp)
    op = GroupNorm(affine=affine, eps=float(eps), group=int(num_groups))
    return apply(op, *_affine_inputs(fn, x, affine, weight, bias))[0]


@traceable
def instance_norm(inp: Tensor, affine: bool, weight: Tensor | None = None,
                  bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize every channel of every sample of an ``(N, C, H, W)`` input on its own.

    Example:
        >>> F.nn.instance_norm(mge.tensor(np.ones((2, 4, 3, 3), "float32")), False).shape
        (2, 4, 3, 3)
    """
    fn = "instance_norm"
    x = float_tensor(fn, "inp", inp)
    op = InstanceNorm(affine=affine, eps=float(eps))
    return apply(op, *_affine_inputs(fn, x, affine, weight, bias))[0]


@traceable
def general_norm(inp: Tensor, normalized_axis: int | Sequence[int], affine: bool = True,
                 weight: Tensor | None = None, bias: Tensor | None = None,
                 eps: float = 1e-5) -> Tensor:
    """Normalize over the axes ``normalized_axis`` (sorted, distinct; ``GeneralNorm``), with
    ``weight``/``bias`` of those axes' shape when ``affine``. Axes that are not contiguous
    are moved together first (and back after), as MegEngine does.

    Example:
        >>> x = mge.tensor([[1.0, 3.0], [2.0, 2.0]])
        >>> F.nn.general_norm(x, 0, affine=False).numpy().round(3)
        array([[-1.,  1.],
               [ 1., -1.]], dtype=float32)
    """
    fn = "general_norm"
    x = float_tensor(fn, "inp", inp)
    axes = list(normalized_axis) if isinstance(normalized_axis, Sequence) else [normalized_axis]
    # MegEngine's checks and words
    assert len(axes) > 0, "normalization axis not specified"
    axes = [int(a) + x.ndim if a < 0 else int(a) for a in axes]
    assert axes == sorted(axes), (f"The order of normalized_axis is incorrect, should be "
                                  f"{sorted(axes)}, but got {axes}")
    assert axes[-1] < x.ndim, "the maximum axis in normalized_axis is greater than inp_shape.ndim"
    assert len(set(axes)) == len(axes), "there are duplicate axis in normalized_axis"
    order = [a for a in range(x.ndim) if a not in axes] + axes
    moved = axes[-1] - axes[0] != len(axes) - 1
    if moved:
        x = apply(Dimshuffle(pattern=tuple(order)), x)[0]
        axes = list(range(x.ndim - len(axes), x.ndim))
    op = GeneralNorm(affine=affine, eps=float(eps), axis_start=axes[0], axis_end=axes[-1] + 1)
    out = apply(op, *_affine_inputs(fn, x, affine, weight, bias))[0]
    if moved:
        out = apply(Dimshuffle(pattern=tuple(order.index(i) for i in range(x.ndim))), out)[0]
    return out


@traceable
def local_response_norm(inp: Tensor, kernel_size: int = 5, k: float = 2.0, alpha: float = 1e-4,
                        beta: float = 0.75) -> Tensor:
    """Local response normalization across the channels of an NCHW ``inp`` (``LRN``):
    ``x * (k + alpha * sum of x^2 over kernel_size neighbouring channels)^-beta``
    (``alpha`` is not divided by ``kernel_size``, as in MegEngine).

    Raises:
        ValueError: an input that is not 4-d, an even ``kernel_size``.

    Example:
        >>> x = mge.tensor(np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1))
        >>> F.nn.local_response_norm(x, 3, k=1.0, alpha=0.1, beta=1.0).numpy().ravel().round(3)
        array([0.   , 0.667, 0.833, 1.304], dtype=float32)
    """
    fn = "local_response_norm"
    x = float_tensor(fn, "inp", inp, (4,))
    if not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"{fn}: kernel_size must be a positive odd int, got {kernel_size!r}")
    op = LRN(n=int(kernel_size), k=float(k), alpha=float(alpha), beta=float(beta))
    return apply(op, x)[0]


__all__ = ["general_norm", "group_norm", "instance_norm", "layer_norm", "local_response_norm"]
