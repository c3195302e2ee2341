"""Quantized functional ops (MegEngine's ``F.quantized``): inference on quantized tensors.

Each op takes quantized inputs (``mge.dtype.qint8``...; the bias ``qint32`` with scale
``input scale * weight scale``) and gives ``dtype``. ``conv_bias_activation`` is
MegEngine's quantized ``ConvBiasForward`` (integer kernels with MegEngine's rounding;
traced, it dumps as MegEngine's int8 ConvBias); the others compute in float32 on the real
values and quantize the result.

Example:
    >>> import numpy as np, mge, mge.functional as F
    >>> from mge.dtype import qint8, qint32
    >>> x = F.astype(mge.tensor(np.ones((1, 1, 3, 3), "float32")), qint8(0.5))
    >>> w = F.astype(mge.tensor(np.ones((1, 1, 3, 3), "float32")), qint8(0.25))
    >>> b = F.astype(mge.tensor(np.zeros((1, 1, 1, 1), "float32")), qint32(0.125))
    >>> F.quantized.conv_bias_activation(x, w, b, qint8(1.0)).numpy().tolist()
    [[[[9]]]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.apply import apply
from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..dtype import dtype_name, dtype_spec, is_quantize
from ..ops.conv import ConvBiasForward
from .elemwise import dequantize, quantize, relu
from .nn import Pair, _conv_params, conv2d
from .nn import conv_transpose2d as _float_conv_transpose2d
from .tensor import concat

_NONLINEAR = ("identity", "relu")


def _real(fn: str, name: str, t: Tensor | None) -> Tensor | None:
    """The float32 values of quantized ``t`` (None stays None)."""
    if t is None:
        return None
    if not isinstance(t, Tensor) or not is_quantize(t.dtype):
        got = dtype_name(t.dtype) if isinstance(t, Tensor) else type(t).__name__
        raise TypeError(f"{fn}: {name} must be a quantized tensor (qint8, ...), got {got}")
    return dequantize(t)


def _checked_mode(fn: str, dtype: Any, nonlinear_mode: str) -> str:
    """The lower-case nonlinear mode; ``ValueError`` for a bad mode or output dtype."""
    mode = nonlinear_mode.lower()
    if mode not in _NONLINEAR:
        raise ValueError(
            f"{fn}: nonlinear_mode must be one of {_NONLINEAR}, got {nonlinear_mode!r}"
        )
    if dtype is None or not is_quantize(np.dtype(dtype)):
        raise ValueError(f"{fn}: dtype must be a quantized dtype, got {dtype!r}")
    return mode


def _output(fn: str, y: Tensor, dtype: Any, nonlinear_mode: str) -> Tensor:
    if _checked_mode(fn, dtype, nonlinear_mode) == "relu":
        y = relu(y)
    return quantize(y, np.dtype(dtype))


@traceable
def conv_bias_activation(
    inp: Tensor, weight: Tensor, bias: Tensor, dtype: Any = None, stride: Pair = 1,
    padding: Pair = 0, dilation: Pair = 1, groups: int = 1, nonlinear_mode: str = "identity",
    conv_mode: str = "cross_correlation", compute_mode: str = "default",
) -> Tensor:
    """Quantized ``act(conv2d(inp, weight) + bias)`` with output dtype ``dtype``.

    Raises:
        TypeError: a float input, weight or bias.
        ValueError: a non-quantized ``dtype``; ``nonlinear_mode`` not identity/relu.
    """
    fn = "conv_bias_activation"
    for name, t in (("inp", inp), ("weight", weight), ("bias", bias)):
        _real(fn, name, t)  # type checks only
    mode = _checked_mode(fn, dtype, nonlinear_mode)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    params = _conv_params(fn, stride, padding, dilation, groups, conv_mode, compute_mode)
    op = ConvBiasForward(**params, nonlineMode=mode.upper(), dtype=dtype_spec(np.dtype(dtype)))
    operands = (inp, weight) if bias is None else (inp, weight, bias)
    return apply(op, *operands)[0]


@traceable
def batch_conv_bias_activation(
    inp: Tensor, weight: Tensor, bias: Tensor, dtype: Any = None, stride: Pair = 1,
    padding: Pair = 0, dilation: Pair = 1, groups: int = 1, nonlinear_mode: str = "identity",
    conv_mode: str = "cross_correlation", compute_mode: str = "default",
) -> Tensor:
    """Quantized convolution with one filter bank per batch item: ``weight`` is
    ``(N, OC, IC, KH, KW)`` for ``inp`` ``(N, IC, H, W)``.

    Raises:
        TypeError: float operands. ValueError: as :func:`conv_bias_activation`; a weight
        whose first axis is not the batch.
    """
    fn = "batch_conv_bias_activation"
    x, w = _real(fn, "inp", inp), _real(fn, "weight", weight)
    b = _real(fn, "bias", bias)
    if w.ndim != 5 or w.shape[0] != x.shape[0]:
        raise ValueError(
            f"{fn}: weight must be (N, OC, IC, KH, KW) with N = {x.shape[0]}, got {w.shape}"
        )
    outs = [
        conv2d(x[i : i + 1], w[i], b, stride, padding, dilation, groups, conv_mode,
               compute_mode)
        for i in range(x.shape[0])
    ]
    return _output(fn, concat(outs, 0), dtype, nonlinear_mode)


@traceable
def conv_transpose2d(
    inp: Tensor, weight: Tensor, bias: Tensor | None = None, dtype: Any = None,
    stride: Pair = 1, padding: Pair = 0, output_padding: Pair = 0, dilation: Pair = 1,
    groups: int = 1, conv_mode: str = "cross_correlation", compute_mode: str = "default",
) -> Tensor:
    """Quantized transposed convolution with output dtype ``dtype``.

    Raises:
        TypeError: float operands. ValueError: a non-quantized ``dtype``.
    """
    fn = "conv_transpose2d"
    y = _float_conv_transpose2d(
        _real(fn, "inp", inp), _real(fn, "weight", weight), _real(fn, "bias", bias), stride,
        padding, output_padding, dilation, groups, conv_mode, compute_mode,
    )
    return _output(fn, y, dtype, "identity")


__all__ = [
    "batch_conv_bias_activation", "conv_bias_activation", "conv_transpose2d",
]
