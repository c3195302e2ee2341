"""Quantized functional ops (MegEngine's ``F.quantized``): inference on quantized tensors.

Each op takes quantized inputs (``mge.dtype.qint8``...; the bias ``qint32`` with scale
``input scale * weight scale``), computes in float32 on their real values and quantizes
the result to ``dtype``. A bias that was fake-quantized during QAT is reproduced exactly;
MegEngine's integer kernels agree within one quantization step.

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

from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ..dtype import dtype_name, is_quantize
from .elemwise import dequantize, quantize, relu
from .nn import Pair, conv2d
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


def _output(fn: str, y: Tensor, dtype: Any, nonlinear_mode: str) -> Tensor:
    mode = nonlinear_mode.lower()
    if mode not in _NONLINEAR:
        raise ValueError(
            f"{fn}: nonlinear_mode must be one of {_NONLINEAR}, got {nonlinear_mode!r}"
        )
    if mode == "relu":
        y = relu(y)
    if dtype is None or not is_quantize(np.dtype(dtype)):
        raise ValueError(f"{fn}: dtype must be a quantized dtype, got {dtype!r}")
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
    y = conv2d(
        _real(fn, "inp", inp), _real(fn, "weight", weight), _real(fn, "bias", bias),
        stride, padding, dilation, groups, conv_mode, compute_mode,
    )
    return _output(fn, y, dtype, nonlinear_mode)


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
