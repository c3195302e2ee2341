"""3-d, deformable, locally connected and sliding-window functions of MegEngine's ``F.nn``:
``conv3d``, ``conv_transpose3d``, ``deformable_conv2d``, ``local_conv2d``,
``sliding_window``, ``sliding_window_transpose`` (thin layers over ``Convolution3DForward``,
``Convolution3DBackwardData``, ``DeformableConvForward``, ``GroupLocal``, ``Images2Neibs``,
``SlidingWindowTranspose``).

Example:
    >>> import numpy as np, mge, mge.functional as F
    >>> x = mge.tensor(np.ones((1, 2, 4, 4, 4), np.float32))
    >>> F.conv3d(x, mge.tensor(np.ones((3, 2, 2, 2, 2), np.float32)), stride=2).shape
    (1, 3, 2, 2, 2)
"""

from __future__ import annotations

from typing import Any

from ..config import actual_compute_mode
from ..core.apply import apply
from ..core.opdef import OpError
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..ops.conv import (
    Convolution3DBackwardData,
    Convolution3DForward,
    DeformableConvForward,
    GroupLocal,
    Images2Neibs,
    SlidingWindowTranspose,
)
from ._args import float_tensor, option, promoted, sizes
from .elemwise import add, astype

Sizes = int | tuple[int, ...]


def _conv3d_op(fn: str, cls: type, inp: Any, weight: Any, stride: Sizes, padding: Sizes,
               dilation: Sizes, groups: int, conv_mode: str = "cross_correlation"
               ) -> tuple[Any, Tensor, Tensor]:
    """The 3-d convolution op of ``cls`` and the promoted ``inp``, ``weight``."""
    inp = float_tensor(fn, "inp", inp, (5,))
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    weight = float_tensor(fn, "weight", weight, (5,) if groups == 1 else (6,))
    if groups > 1 and weight.shape[0] != groups:
        raise ValueError(f"{fn}: weight {weight.shape} must start with groups={groups}")
    inp, weight = promoted(inp, weight)
    (sd, sh, sw), (pd, ph, pw), (dd, dh, dw) = (
        sizes(fn, "stride", stride, 3, 1), sizes(fn, "padding", padding, 3, 0),
        sizes(fn, "dilation", dilation, 3, 1))
    op = cls(mode=option(fn, "conv_mode", conv_mode, ("CROSS_CORRELATION",)),
             pad_d=pd, pad_h=ph, pad_w=pw, stride_d=sd, stride_h=sh, stride_w=sw,
             dilate_d=dd, dilate_h=dh, dilate_w=dw, sparse="DENSE" if groups == 1 else "GROUP")
    return op, inp, weight


def _run(fn: str, op: Any, *inputs: Tensor) -> Tensor:
    """``apply(op, *inputs)``, a shape error reported as ``ValueError`` naming ``fn``."""
    try:
        return apply(op, *inputs)[0]
    except OpError as exc:
        raise ValueError(f"{fn}: {exc}") from None


@traceable
def conv3d(inp: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Sizes = 1,
           padding: Sizes = 0, dilation: Sizes = 1, groups: int = 1,
           conv_mode: str = "cross_correlation") -> Tensor:
    """3-d convolution of an NCDHW ``inp`` (``Convolution3DForward``, then ``+ bias``).

    Args:
        inp: ``(N, C, D, H, W)``.
        weight: ``(OC, C, KD, KH, KW)``, or ``(groups, OC/groups, C/groups, KD, KH, KW)``.
        bias: optional, usually ``(1, OC, 1, 1, 1)``.
        stride, padding, dilation: an int or a ``(d, h, w)`` triple (symmetric padding).
        groups: number of channel groups. conv_mode: ``"cross_correlation"`` only.

    Example:
        >>> x = mge.tensor(np.ones((2, 2, 4, 4, 4), np.float32))
        >>> w = mge.tensor(np.ones((3, 2, 2, 2, 2), np.float32))
        >>> F.conv3d(x, w, stride=2).numpy()[0, 0, 0, 0]
        array([16., 16.], dtype=float32)
    """
    fn = "conv3d"
    op, inp, weight = _conv3d_op(fn, Convolution3DForward, inp, weight, stride, padding,
                                 dilation, groups, conv_mode)
    out = _run(fn, op, inp, weight)
    return out if bias is None else add(out, bias)


@traceable
def conv_transpose3d(inp: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: Sizes = 1, padding: Sizes = 0, output_padding: Sizes = 0,
                     dilation: Sizes = 1, groups: int = 1) -> Tensor:
    """3-d transposed convolution (``Convolution3DBackwardData``, then ``+ bias``).

    ``weight`` is ``(C, OC, KD, KH, KW)`` (``(groups, C/groups, OC/groups, ...)`` when
    grouped); each output side is
    ``(in - 1) * stride - 2 * padding + dilation * (k - 1) + 1 + output_padding`` with
    ``output_padding < stride``.

    Example:
        >>> x = mge.tensor(np.ones((1, 4, 2, 3, 3), np.float32))
        >>> w = mge.tensor(np.ones((4, 2, 3, 3, 3), np.float32))
        >>> F.conv_transpose3d(x, w, stride=2).shape
        (1, 2, 5, 7, 7)
    """
    fn = "conv_transpose3d"
    op, inp, weight = _conv3d_op(fn, Convolution3DBackwardData, inp, weight, stride, padding,
                                 dilation, groups)
    extra = sizes(fn, "output_padding", output_padding, 3, 0)
    if any(e >= s for e, s in zip(extra, op.strides, strict=True)):
        raise ValueError(f"{fn}: output_padding {extra} must be smaller than stride "
                         f"{op.strides}")
    if any(extra):
        kernel = weight.shape[-3:]
        dhw = tuple((i - 1) * s - 2 * p + d * (k - 1) + 1 + e for i, s, p, d, k, e in zip(
            inp.shape[2:], op.strides, op.pads, op.dilates, kernel, extra, strict=True))
        op = Convolution3DBackwardData(**{**op.params(), "output_dhw": dhw})
    out = _run(fn, op, weight, inp)
    return out if bias is None else add(out, bias)


@traceable
def local_conv2d(inp: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Sizes = 1,
                 padding: Sizes = 0, dilation: Sizes = 1,
                 conv_mode: str = "cross_correlation") -> Tensor:
    """Locally connected 2-d layer (untied filters; ``GroupLocal``, then ``+ bias``).

    Args:
        inp: ``(N, IC, H, W)``.
        weight: ``(groups, OH, OW, IC/groups, KH, KW, OC/groups)``.
        stride, padding: an int or a pair; dilation must be 1 (MegEngine's rule).

    Example:
        >>> x = mge.tensor(np.ones((1, 2, 4, 4), np.float32))
        >>> F.local_conv2d(x, mge.tensor(np.ones((1, 2, 2, 2, 3, 3, 5), np.float32))).shape
        (1, 5, 2, 2)
    """
    fn = "local_conv2d"
    inp = float_tensor(fn, "inp", inp, (4,))
    weight = float_tensor(fn, "weight", weight, (7,))
    inp, weight = promoted(inp, weight)
    (sh, sw), (ph, pw), (dh, dw) = (sizes(fn, "stride", stride, 2, 1),
                                    sizes(fn, "padding", padding, 2, 0),
                                    sizes(fn, "dilation", dilation, 2, 1))
    op = GroupLocal(mode=option(fn, "conv_mode", conv_mode, ("CROSS_CORRELATION",)),
                    pad_h=ph, pad_w=pw, stride_h=sh, stride_w=sw, dilate_h=dh, dilate_w=dw)
    out = _run(fn, op, inp, weight)
    return out if bias is None else add(out, bias)


@traceable
def deformable_conv2d(inp: Tensor, weight: Tensor, offset: Tensor, mask: Tensor,
                      bias: Tensor | None = None, stride: Sizes = 1, padding: Sizes = 0,
                      dilation: Sizes = 1, groups: int = 1,
                      conv_mode: str = "cross_correlation",
                      compute_mode: str = "default") -> Tensor:
    """Deformable 2-d convolution (``DeformableConvForward``, then ``+ bias``): each tap
    samples ``inp`` bilinearly at its ``offset`` (``(N, 2 * dg * KH * KW, OH, OW)``, ``dy``
    then ``dx`` per tap) and is scaled by ``mask`` (``(N, dg * KH * KW, OH, OW)``).

    Example:
        >>> x = mge.tensor(np.ones((1, 2, 4, 4), np.float32))
        >>> w = mge.tensor(np.ones((3, 2, 3, 3), np.float32))
        >>> off, m = F.zeros((1, 18, 2, 2)), F.ones((1, 9, 2, 2))
        >>> F.deformable_conv2d(x, w, off, m).numpy()[0, 0]
        array([[18., 18.],
               [18., 18.]], dtype=float32)
    """
    fn = "deformable_conv2d"
    inp = float_tensor(fn, "inp", inp, (4,))
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    weight = float_tensor(fn, "weight", weight, (4,) if groups == 1 else (5,))
    inp, weight = promoted(inp, weight)
    offset = astype(float_tensor(fn, "offset", offset, (4,)), "float32")
    mask = astype(float_tensor(fn, "mask", mask, (4,)), "float32")
    (sh, sw), (ph, pw), (dh, dw) = (sizes(fn, "stride", stride, 2, 1),
                                    sizes(fn, "padding", padding, 2, 0),
                                    sizes(fn, "dilation", dilation, 2, 1))
    op = DeformableConvForward(
        mode=option(fn, "conv_mode", conv_mode, ("CROSS_CORRELATION",)), pad_h=ph, pad_w=pw,
        stride_h=sh, stride_w=sw, dilate_h=dh, dilate_w=dw,
        sparse="DENSE" if groups == 1 else "GROUP",
        compute_mode=option(fn, "compute_mode", actual_compute_mode(compute_mode),
                            ("DEFAULT", "FLOAT32")))
    out = _run(fn, op, inp, weight, offset, mask)
    return out if bias is None else add(out, bias)


def _window_params(fn: str, kernel_size: Sizes, padding: Sizes, stride: Sizes,
                   dilation: Sizes) -> dict[str, int]:
    (wh, ww), (ph, pw), (sh, sw), (dh, dw) = (
        sizes(fn, "kernel_size", kernel_size, 2, 1), sizes(fn, "padding", padding, 2, 0),
        sizes(fn, "stride", stride, 2, 1), sizes(fn, "dilation", dilation, 2, 1))
    return {"window_h": wh, "window_w": ww, "pad_h": ph, "pad_w": pw, "stride_h": sh,
            "stride_w": sw, "dilate_h": dh, "dilate_w": dw}


@traceable
def sliding_window(inp: Tensor, kernel_size: Sizes, padding: Sizes = 0, stride: Sizes = 1,
                   dilation: Sizes = 1) -> Tensor:
    """Every sliding window of an NCHW ``inp``: ``(N, C, OH, OW, KH, KW)`` (``Images2Neibs``).

    Example:
        >>> x = mge.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
        >>> F.sliding_window(x, 2, stride=2).numpy()[0, 0, 0, 1]
        array([[2., 3.],
               [6., 7.]], dtype=float32)
    """
    fn = "sliding_window"
    inp = float_tensor(fn, "inp", inp, (4,))
    op = Images2Neibs(**_window_params(fn, kernel_size, padding, stride, dilation))
    return _run(fn, op, inp)


@traceable
def sliding_window_transpose(inp: Tensor, output_size: Sizes, kernel_size: Sizes,
                             padding: Sizes = 0, stride: Sizes = 1,
                             dilation: Sizes = 1) -> Tensor:
    """Sum the windows ``(N, C, OH, OW, KH, KW)`` back into an ``output_size`` image
    (``SlidingWindowTranspose``, the adjoint of :func:`sliding_window`).

    Example:
        >>> x = mge.tensor(np.ones((1, 1, 3, 3, 2, 2), np.float32))
        >>> F.sliding_window_transpose(x, 4, 2).numpy()[0, 0, 0]
        array([1., 2., 2., 1.], dtype=float32)
    """
    fn = "sliding_window_transpose"
    inp = float_tensor(fn, "inp", inp, (6,))
    out_h, out_w = sizes(fn, "output_size", output_size, 2, 1)
    op = SlidingWindowTranspose(out_h=out_h, out_w=out_w,
                                **_window_params(fn, kernel_size, padding, stride, dilation))
    return _run(fn, op, inp)


__all__ = ["conv3d", "conv_transpose3d", "deformable_conv2d", "local_conv2d", "sliding_window",
           "sliding_window_transpose"]
