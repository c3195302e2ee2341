"""Neural-network functions (MegEngine ``F.nn``): convolution, pooling, matmul, normalization.

Every function checks its arguments first (``TypeError``/``ValueError`` naming the
function and the offending shapes), then builds MegEngine ops and calls ``apply``.
MegEngine's activation functions are re-exported here from ``F.elemwise``.

Example:
    >>> import numpy as np, mge, mge.functional as F
    >>> x = mge.tensor(np.ones((1, 2, 4, 4), np.float32))
    >>> F.conv2d(x, mge.tensor(np.ones((3, 2, 3, 3), np.float32)), padding=1).shape
    (1, 3, 4, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import random as _random
from ..config import actual_compute_mode
from ..core.apply import apply
from ..core.opdef import OpError
from ..core.tensor import amp as amp_state
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..dtype import is_quantize
from ..ops.conv import ConvolutionBackwardData, ConvolutionForward, conv_out_size
from ..ops.nn import BatchNormForward, MatrixMul
from ..ops.pooling import AdaptivePoolingForward, PoolingForward
from ..ops.shape import Padding
from . import conv_nd as _conv_nd
from . import embedding as _embedding
from . import loss as _loss
from . import metric as _metric
from . import normalization as _normalization
from ._args import autocast_inputs, float_tensor, option, promoted, sizes
from ._detection import deformable_psroi_pooling
from .conv_nd import *  # noqa: F403 - F.nn has them
from .elemwise import (
    add,
    as_tensor,
    astype,
    gelu,
    hsigmoid,
    hswish,
    leaky_relu,
    logsigmoid,
    mul,
    prelu,
    relu,
    relu6,
    sigmoid,
    silu,
    softplus,
)
from .embedding import *  # noqa: F403 - F.nn has them
from .loss import *  # noqa: F403
from .math import matmul
from .metric import *  # noqa: F403
from .normalization import *  # noqa: F403
from .softmax import logsoftmax, logsumexp, softmax  # noqa: F401 - F.nn has them
from .tensor import expand_dims, reshape, squeeze, transpose
from .vision import (  # noqa: F401 - MegEngine's F.nn has them
    correlation,
    cvt_color,
    interpolate,
    nms,
    remap,
    roi_align,
    roi_pooling,
    warp_affine,
    warp_perspective,
)

Pair = int | Sequence[int]


# ----------------------------------------------------------------------------- checks
def _pair(fn: str, arg: str, value: Any, low: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``low``, as a pair."""
    return sizes(fn, arg, value, 2, low)  # type: ignore[return-value]


# ----------------------------------------------------------------------------- convolution
def _conv_args(
    fn: str, inp: Any, weight: Any, stride: Pair, padding: Pair, dilation: Pair, groups: int,
    conv_mode: str, compute_mode: str,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Checked ``inp``, ``weight`` and the ``Convolution`` params shared by conv ops."""
    inp, weight = as_tensor(inp), as_tensor(weight)
    if inp.dtype.kind in "iub" and weight.dtype.kind == "f":
        inp = astype(inp, weight.dtype)  # MegEngine promotes an integer input to the filter's
    inp = float_tensor(fn, "inp", inp, (4,))
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    weight = float_tensor(fn, "weight", weight, (4,) if groups == 1 else (5,))
    inp, weight = promoted(inp, weight)
    if groups > 1 and weight.shape[0] != groups:
        raise ValueError(f"{fn}: weight {weight.shape} must start with groups={groups}")
    return inp, weight, _conv_params(fn, stride, padding, dilation, groups, conv_mode,
                                     compute_mode)


def _conv_params(fn: str, stride: Pair, padding: Pair, dilation: Pair, groups: int,
                 conv_mode: str, compute_mode: str) -> dict[str, Any]:
    """The checked ``Convolution`` params of a conv function's arguments."""
    (sh, sw), (ph, pw) = _pair(fn, "stride", stride, 1), _pair(fn, "padding", padding, 0)
    dh, dw = _pair(fn, "dilation", dilation, 1)
    return {
        "mode": option(fn, "conv_mode", conv_mode, ("CROSS_CORRELATION", "CONVOLUTION")),
        "pad_h": ph, "pad_w": pw, "stride_h": sh, "stride_w": sw, "dilate_h": dh,
        "dilate_w": dw, "sparse": "DENSE" if groups == 1 else "GROUP",
        "compute_mode": option(fn, "compute_mode", actual_compute_mode(compute_mode),
                               ("DEFAULT", "FLOAT32")),
    }


def _check_channels(fn: str, inp: Tensor, weight: Tensor, per_group: int, groups: int) -> None:
    if inp.shape[1] != per_group * groups:
        raise ValueError(
            f"{fn}: input {inp.shape} has {inp.shape[1]} channels but weight {weight.shape} "
            f"with groups={groups} expects {per_group * groups}"
        )


@traceable
def conv2d(
    inp: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Pair = 1,
    padding: Pair = 0, dilation: Pair = 1, groups: int = 1,
    conv_mode: str = "cross_correlation", compute_mode: str = "default",
) -> Tensor:
    """2-d convolution of an NCHW ``inp`` (``ConvolutionForward``, then ``+ bias``).

    Args:
        inp: ``(N, C, H, W)`` input.
        weight: ``(OC, C, KH, KW)``, or ``(groups, OC/groups, C/groups, KH, KW)`` when
            ``groups > 1``.
        bias: optional, broadcast to the output (usually ``(1, OC, 1, 1)``).
        stride, padding, dilation: an int or an ``(h, w)`` pair; padding is symmetric
            (pad with :func:`pad` first for asymmetric padding).
        groups: number of channel groups.
        conv_mode: ``"cross_correlation"`` (or ``"convolution"``: flipped kernel).
        compute_mode: ``"default"`` or ``"float32"`` (float32 accumulation for float16).

    Raises:
        TypeError: non-float tensors, mismatched dtypes, non-int sizes.
        ValueError: wrong ranks, channel counts that do not match ``weight`` and
            ``groups``, a kernel larger than the padded input, unknown modes.

    Example:
        >>> x = mge.tensor(np.ones((1, 4, 5, 5), np.float32))
        >>> F.conv2d(x, mge.tensor(np.ones((2, 3, 2, 3, 3), np.float32)), groups=2).shape
        (1, 6, 3, 3)
    """
    fn = "conv2d"
    inp, weight, bias = autocast_inputs(inp, weight, bias)
    inp, weight, params = _conv_args(fn, inp, weight, stride, padding, dilation, groups,
                                     conv_mode, "float32" if amp_state._enabled else compute_mode)
    _check_channels(fn, inp, weight, weight.shape[-3], groups)
    op = ConvolutionForward(**params)
    (kh, kw), (h, w) = weight.shape[-2:], inp.shape[2:]
    if min(conv_out_size(h, kh, op.stride_h, op.pad_h, op.dilate_h),
           conv_out_size(w, kw, op.stride_w, op.pad_w, op.dilate_w)) < 1:
        raise ValueError(
            f"{fn}: kernel {(kh, kw)} (dilation {(op.dilate_h, op.dilate_w)}) is larger than "
            f"input {inp.shape} padded by {(op.pad_h, op.pad_w)}"
        )
    out = apply(op, inp, weight)[0]
    return out if bias is None else add(out, bias)


@traceable
def conv_transpose2d(
    inp: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Pair = 1,
    padding: Pair = 0, output_padding: Pair = 0, dilation: Pair = 1, groups: int = 1,
    conv_mode: str = "cross_correlation", compute_mode: str = "default",
) -> Tensor:
    """2-d transposed convolution (``ConvolutionBackwardData``, then ``+ bias``).

    ``weight`` is ``(C, OC, KH, KW)`` (``(groups, C/groups, OC/groups, KH, KW)`` when
    grouped) for a ``C``-channel ``inp``; each output side is
    ``(in - 1) * stride - 2 * padding + dilation * (k - 1) + 1 + output_padding``,
    with ``output_padding`` smaller than ``stride``. Other arguments as :func:`conv2d`.

    Example:
        >>> x = mge.tensor(np.ones((1, 4, 3, 3), np.float32))
        >>> w = mge.tensor(np.ones((4, 2, 3, 3), np.float32))
        >>> F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1).shape
        (1, 2, 6, 6)
    """
    fn = "conv_transpose2d"
    inp, weight, bias = autocast_inputs(inp, weight, bias)
    inp, weight, params = _conv_args(fn, inp, weight, stride, padding, dilation, groups,
                                     conv_mode, "float32" if amp_state._enabled else compute_mode)
    _check_channels(fn, inp, weight, weight.shape[-4], groups)
    extra = _pair(fn, "output_padding", output_padding, 0)
    strides = (params["stride_h"], params["stride_w"])
    if any(e >= s for e, s in zip(extra, strides, strict=True)):
        raise ValueError(f"{fn}: output_padding {extra} must be smaller than stride {strides}")
    op = ConvolutionBackwardData(**params)
    try:
        out_hw = op.out_hw(inp.shape[2:], weight.shape[-2:])
    except OpError:
        raise ValueError(
            f"{fn}: padding {(op.pad_h, op.pad_w)} leaves no output for input {inp.shape} "
            f"and weight {weight.shape}"
        ) from None
    if any(extra):
        hw = tuple(o + e for o, e in zip(out_hw, extra, strict=True))
        op = ConvolutionBackwardData(**params, output_hw=hw)
    out = apply(op, weight, inp)[0]
    return out if bias is None else add(out, bias)


@traceable
def conv1d(
    inp: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
    padding: int = 0, dilation: int = 1, groups: int = 1,
    conv_mode: str = "cross_correlation", compute_mode: str = "default",
) -> Tensor:
    """1-d convolution of an NCL ``inp``: :func:`conv2d` over a width-1 second spatial axis.

    Args:
        inp: ``(N, C, L)`` input.
        weight: ``(OC, C, K)``, or ``(groups, OC/groups, C/groups, K)`` when ``groups > 1``.
        bias: optional ``(1, OC, 1)``.
        stride, padding, dilation: ints. Other arguments as :func:`conv2d`.

    Raises:
        ValueError: an input or bias that is not 3-d, and everything :func:`conv2d` checks.

    Example:
        >>> x = mge.tensor(np.ones((2, 2, 4), np.float32))
        >>> F.conv1d(x, mge.tensor(np.ones((3, 2, 2), np.float32)), stride=2).numpy()[0]
        array([[4., 4.],
               [4., 4.],
               [4., 4.]], dtype=float32)
    """
    fn = "conv1d"
    inp = float_tensor(fn, "inp", inp, (3,))
    if bias is not None and as_tensor(bias).ndim != 3:
        raise ValueError(f"{fn}: bias must be 3-d (1, OC, 1), got {as_tensor(bias).shape}")
    params = {}
    for name, value in (("stride", stride), ("padding", padding), ("dilation", dilation)):
        if not isinstance(value, (int, np.integer)):
            raise TypeError(f"{fn}: {name} must be an int, got {value!r}")
        params[name] = (int(value), 1 if name != "padding" else 0)
    out = conv2d(expand_dims(inp, -1), expand_dims(float_tensor(fn, "weight", weight), -1),
                 None, groups=groups, conv_mode=conv_mode, compute_mode=compute_mode, **params)
    out = squeeze(out, -1)
    return out if bias is None else add(out, bias)


@traceable
def linear(
    inp: Tensor, weight: Tensor, bias: Tensor | None = None, compute_mode: str = "default"
) -> Tensor:
    """``inp @ weight.T + bias`` with ``weight`` of shape ``(out_features, in_features)``.

    Raises:
        ValueError: ``weight`` not 2-d or ``inp``'s last dim not ``in_features``.

    Example:
        >>> x = mge.tensor(np.ones((2, 3), np.float32))
        >>> F.linear(x, mge.tensor(np.ones((4, 3), np.float32))).shape
        (2, 4)
    """
    fn = "linear"
    if isinstance(inp, Tensor) and is_quantize(inp.dtype):
        return _quantized_linear(inp, weight, bias)
    inp = float_tensor(fn, "inp", inp)
    weight = float_tensor(fn, "weight", weight, (2,))
    if inp.ndim == 0 or inp.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"{fn}: input {inp.shape} does not end with in_features={weight.shape[1]} "
            f"of weight {weight.shape}"
        )
    out = matmul(inp, weight, transpose_b=True, compute_mode=compute_mode)
    return out if bias is None else add(out, autocast_inputs(bias)[0])



def _quantized_linear(inp: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """MegEngine's ``F.linear`` on ``QuantizedS8`` operands: one integer ``MatrixMul``
    (``QuantizedS32`` with scale ``scale_inp * scale_weight``; leading dims of ``inp``
    flattened), then ``bias`` (``QuantizedS32`` of that scale) added by ``Elemwise``."""
    if not isinstance(weight, Tensor) or weight.ndim != 2 or inp.ndim < 1 or \
            inp.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input {inp.shape} does not end with the in_features of "
                         f"a 2-d weight {getattr(weight, 'shape', weight)}")
    lead = inp.shape[:-1]
    flat = inp if inp.ndim == 2 else reshape(inp, (-1, inp.shape[-1]))
    (out,) = apply(MatrixMul(transposeB=True), flat, weight)
    out = out if inp.ndim == 2 else reshape(out, (*lead, weight.shape[0]))
    return out if bias is None else add(out, bias)

# ----------------------------------------------------------------------------- pooling
def _pool(
    fn: str, inp: Tensor, kernel_size: Pair, stride: Pair | None, padding: Pair, mode: str
) -> Tensor:
    inp = as_tensor(inp)
    if not (is_quantize(inp.dtype) and inp.dtype.itemsize == 1):  # qint8/quint8 pool as is
        inp = float_tensor(fn, "inp", inp, (4,))
    elif inp.ndim != 4:
        raise ValueError(f"{fn}: inp must be 4-d, got shape {inp.shape}")
    wh, ww = _pair(fn, "kernel_size", kernel_size, 1)
    sh, sw = _pair(fn, "stride", kernel_size if stride is None else stride, 1)
    ph, pw = _pair(fn, "padding", padding, 0)
    if ph >= wh or pw >= ww:
        raise ValueError(f"{fn}: padding {(ph, pw)} must be smaller than kernel {(wh, ww)}")
    h, w = inp.shape[2:]
    if conv_out_size(h, wh, sh, ph) < 1 or conv_out_size(w, ww, sw, pw) < 1:
        raise ValueError(
            f"{fn}: kernel {(wh, ww)} is larger than input {inp.shape} padded by {(ph, pw)}"
        )
    op = PoolingForward(mode=mode, pad_h=ph, pad_w=pw, stride_h=sh, stride_w=sw,
                        window_h=wh, window_w=ww)
    return apply(op, inp)[0]


@traceable
def max_pool2d(
    inp: Tensor, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0
) -> Tensor:
    """2-d max pooling of NCHW ``inp`` (``stride`` defaults to ``kernel_size``).

    Padding is symmetric and never wins the max; it must be smaller than the kernel.

    Example:
        >>> x = mge.tensor(np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4))
        >>> F.max_pool2d(x, 2, 1).numpy()[0, 0]
        array([[ 5.,  6.,  7.],
               [ 9., 10., 11.]], dtype=float32)
    """
    return _pool("max_pool2d", inp, kernel_size, stride, padding, "MAX")


@traceable
def avg_pool2d(
    inp: Tensor, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0,
    mode: str = "average_count_exclude_padding",
) -> Tensor:
    """2-d average pooling of NCHW ``inp`` (``stride`` defaults to ``kernel_size``).

    ``mode="average"`` counts padded cells (as zeros) in every window;
    ``"average_count_exclude_padding"`` (the default) divides by the real cells only.

    Example:
        >>> x = mge.tensor(np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4))
        >>> F.avg_pool2d(x, 2, 2, padding=(1, 0), mode="average").numpy()[0, 0]
        array([[0.25, 1.25],
               [6.5 , 8.5 ]], dtype=float32)
    """
    fn = "avg_pool2d"
    mode = option(fn, "mode", mode, ("AVERAGE", "AVERAGE_COUNT_EXCLUDE_PADDING"))
    return _pool(fn, inp, kernel_size, stride, padding, mode)


def _adaptive(fn: str, inp: Tensor, oshp: Any, mode: str) -> Tensor:
    inp = float_tensor(fn, "inp", inp, (4,))
    if isinstance(oshp, Tensor):
        oshp = tuple(int(v) for v in oshp.numpy().reshape(-1))
        oshp = oshp * 2 if len(oshp) == 1 else oshp
    oh, ow = _pair(fn, "oshp", oshp, 1)
    if oh > inp.shape[2] or ow > inp.shape[3]:
        raise ValueError(f"{fn}: output size {(oh, ow)} exceeds the input {inp.shape}")
    return apply(AdaptivePoolingForward(mode=mode, oshp=(oh, ow)), inp)[0]


@traceable
def adaptive_max_pool2d(inp: Tensor, oshp: int | tuple[int, int] | Tensor) -> Tensor:
    """Max pooling of NCHW ``inp`` to the spatial size ``oshp`` (``(OH, OW)`` or an int).

    As in MegEngine, windows are fixed: ``stride = H // OH``, ``window = H - (OH-1)*stride``.

    Example:
        >>> F.adaptive_max_pool2d(mge.tensor(np.ones((1, 2, 7, 7), np.float32)), 1).shape
        (1, 2, 1, 1)
    """
    return _adaptive("adaptive_max_pool2d", inp, oshp, "MAX")


@traceable
def adaptive_avg_pool2d(inp: Tensor, oshp: int | tuple[int, int] | Tensor) -> Tensor:
    """Average pooling of NCHW ``inp`` to the spatial size ``oshp`` (see adaptive_max_pool2d).

    Example:
        >>> F.adaptive_avg_pool2d(mge.tensor(np.ones((1, 2, 8, 6), np.float32)), (2, 3)).shape
        (1, 2, 2, 3)
    """
    return _adaptive("adaptive_avg_pool2d", inp, oshp, "AVERAGE")


# ----------------------------------------------------------------------------- normalization
def _bn_param(fn: str, arg: str, value: Any, inp: Tensor, fill: float, dtype: np.dtype) -> Tensor:
    """A ``(1, C, 1, 1)`` param from None (``fill``), a ``(C,)`` or a ``(1, C, 1, 1)`` tensor."""
    channels = inp.shape[1]
    if value is None:
        return Tensor(np.full((1, channels, 1, 1), fill, dtype), device=inp.device)
    t = float_tensor(fn, arg, value)
    if t.shape not in ((channels,), (1, channels, 1, 1)):
        raise ValueError(f"{fn}: {arg} {t.shape} must be ({channels},) or (1, {channels}, 1, 1)")
    return reshape(t, (1, channels, 1, 1)) if t.ndim == 1 else t


@traceable
def batch_norm(
    inp: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    *,
    training: bool = False,
    momentum: float = 0.9,
    eps: float = 1e-5,
    inplace: bool = True,
) -> Tensor | tuple[Tensor, Tensor | None, Tensor | None]:
    """Batch normalization over axis 1 of a 2- to 4-d ``inp`` (``BatchNormForward``).

    Inference normalizes with the running statistics (both required). Training uses the
    batch statistics and, when running statistics are given, updates them as
    ``momentum * running + (1 - momentum) * batch`` (unbiased variance): in place when
    ``inplace`` (returns ``y``), else returned as ``(y, new_mean, new_var)``. Params are
    ``(1, C, 1, 1)`` or ``(C,)`` tensors; a missing weight is 1 and a missing bias 0.

    Raises:
        ValueError: bad ranks or param shapes, missing statistics in inference.

    Example:
        >>> x = mge.tensor(np.ones((2, 3, 4, 4), np.float32))
        >>> mean, var = mge.tensor(np.zeros((1, 3, 1, 1))), mge.tensor(np.ones((1, 3, 1, 1)))
        >>> F.batch_norm(x, mean, var).shape
        (2, 3, 4, 4)
    """
    fn = "batch_norm"
    inp = float_tensor(fn, "inp", autocast_inputs(inp)[0], (2, 3, 4))
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{fn}: running_mean and running_var are required in inference")
    # MegEngine's graph BatchNorm takes 4-d inputs (its dumps give (N, C[, L]) unit axes)
    unit_axes = list(range(inp.ndim, 4))
    out = _batch_norm_4d(expand_dims(inp, unit_axes) if unit_axes else inp, running_mean,
                         running_var, weight, bias, training, momentum, eps, inplace)
    if not unit_axes:
        return out
    if isinstance(out, tuple):
        return (squeeze(out[0], unit_axes), *out[1:])
    return squeeze(out, unit_axes)


def _batch_norm_4d(inp: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                   weight: Tensor | None, bias: Tensor | None, training: bool,
                   momentum: float, eps: float, inplace: bool) -> Any:
    """:func:`batch_norm` of a 4-d ``inp``."""
    fn = "batch_norm"
    given = [t for t in (weight, bias, running_mean, running_var) if t is not None]
    dtype = as_tensor(given[0]).dtype if given else inp.dtype
    scale = _bn_param(fn, "weight", weight, inp, 1.0, dtype)
    shift = _bn_param(fn, "bias", bias, inp, 0.0, dtype)
    if not training:
        stats = [_bn_param(fn, k, v, inp, 0.0, dtype)
                 for k, v in (("running_mean", running_mean), ("running_var", running_var))]
        op = BatchNormForward(param_dim="DIM_1C11", fwd_mode="INFERENCE", epsilon=eps)
        return apply(op, inp, scale, shift, *stats)[-1]
    op = BatchNormForward(param_dim="DIM_1C11", epsilon=eps, avg_factor=1 - momentum)
    if running_mean is None and running_var is None:
        return apply(op, inp, scale, shift)[-1]
    mean = _bn_param(fn, "running_mean", running_mean, inp, 0.0, dtype)
    var = _bn_param(fn, "running_var", running_var, inp, 1.0, dtype)
    new_mean, new_var, *_, y = apply(op, inp, scale, shift, mean, var)
    updates = [(running_mean, new_mean), (running_var, new_var)]
    if not inplace:
        return (y, *(new if old is not None else None for old, new in updates))
    for old, new in updates:
        if old is not None:
            old.set_value(reshape(new, old.shape).detach())  # statistics carry no gradient
    return y


# ----------------------------------------------------------------------------- misc
@traceable
def dropout(inp: Tensor, drop_prob: float, training: bool = True) -> Tensor:
    """Zero each element with probability ``drop_prob`` and scale the rest by ``1/(1-p)``.

    The identity when not ``training`` (or ``drop_prob == 0``). The mask is drawn from
    ``mge.random``'s generator, so ``mge.random.seed`` makes it reproducible.

    Raises:
        ValueError: ``drop_prob`` outside ``[0, 1)``.

    Example:
        >>> x = mge.tensor(np.ones(4, np.float32))
        >>> F.dropout(x, 0.5, training=False).numpy()
        array([1., 1., 1., 1.], dtype=float32)
    """
    if not 0 <= drop_prob < 1:
        raise ValueError(f"dropout: drop_prob must be in [0, 1), got {drop_prob}")
    inp = float_tensor("dropout", "inp", inp)
    if not training or drop_prob == 0:
        return inp
    keep = _random.uniform(size=inp.shape).numpy() >= drop_prob
    mask = Tensor((keep / (1 - drop_prob)).astype(inp.dtype), device=inp.device)
    return mul(inp, mask)


@traceable
def pixel_shuffle(inp: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange ``(..., C * r * r, H, W)`` into ``(..., C, H * r, W * r)``, r = upscale_factor.

    Each group of ``r * r`` channels fills an ``r x r`` block of the output; the leading
    dims are kept (reshape, transpose, reshape).

    Raises:
        ValueError: ``upscale_factor < 1``, an input under 3-d, or channels (axis -3) that
            ``r * r`` does not divide.

    Example:
        >>> F.pixel_shuffle(mge.tensor(np.arange(4).reshape(4, 1, 1)), 2).numpy()
        array([[[0, 1],
                [2, 3]]], dtype=int32)
    """
    fn = "pixel_shuffle"
    x = as_tensor(inp)
    r = int(upscale_factor)
    if r < 1 or x.ndim < 3 or x.shape[-3] % (r * r):
        raise ValueError(
            f"{fn}: input {x.shape} needs at least 3 dims and channels (axis -3) divisible by "
            f"upscale_factor**2 with upscale_factor >= 1, got upscale_factor={upscale_factor}"
        )
    *lead, c, h, w = x.shape
    batch = int(np.prod(lead, dtype=np.int64))
    blocks = reshape(x, (batch, c // (r * r), r, r, h, w))
    return reshape(transpose(blocks, (0, 1, 4, 2, 5, 3)), (*lead, c // (r * r), h * r, w * r))


_PAD_MODES = {"CONSTANT": "CONSTANT", "REFLECT": "REFLECT", "REPLICATE": "REPLICATE",
              "EDGE": "REPLICATE"}


@traceable
def pad(
    src: Tensor, pad_width: Sequence[Sequence[int]], mode: str = "constant",
    constant_value: float = 0.0,
) -> Tensor:
    """Pad the leading ``len(pad_width)`` dims by ``(before, after)`` pairs (``Padding`` op).

    ``mode``: ``"constant"`` (fill ``constant_value``), ``"reflect"`` (mirror without
    the edge) or ``"replicate"``/``"edge"`` (repeat the edge).

    Raises:
        ValueError: more pairs than dims, negative sizes, unknown mode.

    Example:
        >>> F.nn.pad(mge.tensor([[1.0, 2.0]]), ((1, 0), (0, 1))).numpy()
        array([[0., 0., 0.],
               [1., 2., 0.]], dtype=float32)
    """
    fn = "pad"
    src = as_tensor(src)
    padding_mode = _PAD_MODES[option(fn, "mode", mode, tuple(_PAD_MODES))]
    pairs = [tuple(p) for p in pad_width]
    if len(pairs) > src.ndim or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ValueError(
            f"{fn}: pad_width {pad_width!r} must be at most {src.ndim} non-negative "
            f"(before, after) pairs for input {src.shape}"
        )
    op = Padding.from_pad_width(pairs, padding_val=float(constant_value),
                                padding_mode=padding_mode)
    return apply(op, src)[0]


# MegEngine's F.nn also carries the vision functions (F.nn.interpolate, F.warp_perspective),
# the losses, the metrics and the index lookups.
__all__ = [
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "avg_pool2d", "batch_norm", "conv1d", "conv2d",
    "conv_transpose2d", "deformable_psroi_pooling", "dropout", "gelu", "hsigmoid", "hswish",
    "leaky_relu", "linear",
    "logsigmoid", "logsoftmax", "logsumexp", "matmul", "max_pool2d", "pad", "pixel_shuffle",
    "prelu", "relu", "relu6", "remap", "sigmoid", "silu", "softmax", "softplus", "warp_affine",
    "warp_perspective",
    *_conv_nd.__all__, *_embedding.__all__, *_loss.__all__, *_metric.__all__,
    *_normalization.__all__,
]
