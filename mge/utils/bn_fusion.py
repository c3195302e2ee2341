"""Fuse a convolution or linear layer with the BatchNorm (and ReLU) after it (MegEngine's
``megengine.utils.bn_fusion``).

In eval mode BatchNorm is folded into the weight and bias and the result is a plain
``Conv2d``/``ConvRelu2d``/``Linear``/``LinearRelu``; in training mode the fused module keeps
a copy of the BatchNorm (``ConvBn2d``, ``ConvBnRelu2d``, ``LinearBn1d``...), ready for
``quantize_qat``.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> conv, bn = M.Conv2d(3, 4, 3), M.BatchNorm2d(4)
    >>> conv.eval(); bn.eval()
    >>> fused = fuse_conv_bn_relu_module(conv, bn, None)
    >>> type(fused).__name__
    'Conv2d'
    >>> x = mge.tensor(np.random.rand(1, 3, 5, 5).astype("float32"))
    >>> bool(np.allclose(fused(x).numpy(), bn(conv(x)).numpy(), atol=1e-5))
    True
"""

from __future__ import annotations

from copy import deepcopy

from ..module import (
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvBn2d,
    ConvBnRelu2d,
    ConvRelu2d,
    ConvTranspose2d,
    ConvTransposeBn2d,
    ConvTransposeBnRelu2d,
    ConvTransposeRelu2d,
    Linear,
    LinearBn1d,
    LinearBnRelu1d,
    LinearRelu,
    Module,
    ReLU,
)
from ..module._bn_fold import fold_bias, fold_scale
from ..tensor import Parameter, Tensor

_MAP_TO_FUSED_MODULE: dict[tuple, type] = {
    (Conv2d, BatchNorm2d, ReLU, False): ConvRelu2d,
    (Conv2d, BatchNorm2d, ReLU, True): ConvBnRelu2d,
    (Conv2d, BatchNorm2d, False): Conv2d,
    (Conv2d, BatchNorm2d, True): ConvBn2d,
    (Conv2d, ReLU): ConvRelu2d,
    (ConvTranspose2d, BatchNorm2d, ReLU, False): ConvTransposeRelu2d,
    (ConvTranspose2d, BatchNorm2d, ReLU, True): ConvTransposeBnRelu2d,
    (ConvTranspose2d, BatchNorm2d, False): ConvTranspose2d,
    (ConvTranspose2d, BatchNorm2d, True): ConvTransposeBn2d,
    (ConvTranspose2d, ReLU): ConvTransposeRelu2d,
    (Linear, BatchNorm1d, ReLU, False): LinearRelu,
    (Linear, BatchNorm1d, ReLU, True): LinearBnRelu1d,
    (Linear, BatchNorm1d, False): Linear,
    (Linear, BatchNorm1d, True): LinearBn1d,
    (Linear, ReLU): LinearRelu,
}


def fold_weight_bias(
    weight: Tensor, bias: Tensor | None, gamma: Tensor | None, beta: Tensor | None,
    bn_mean: Tensor | None, bn_var: Tensor | None, eps: float = 1e-5,
    transpose: bool = False,
) -> tuple[Tensor, Tensor]:
    """BatchNorm folded into a convolution (weight ``(OC, ...)`` or grouped
    ``(G, OC/G, ...)``; bias ``(1, OC, 1, 1)``) or a linear layer (weight ``(OUT, IN)``;
    bias ``(OUT,)``)."""
    if transpose:  # ConvTranspose2d: (IC, OC, ...) or grouped (G, IC/G, OC/G, ...)
        grouped = weight.ndim == 5
        channels = weight.shape[0] * weight.shape[2] if grouped else weight.shape[1]
        w_shape = (weight.shape[0], 1, -1, 1, 1) if grouped else (1, -1, 1, 1)
        b_shape = (1, -1, 1, 1)
    elif weight.ndim == 2:
        channels, w_shape, b_shape = weight.shape[0], (-1, 1), (-1,)
    elif weight.ndim == 5:
        channels = weight.shape[0] * weight.shape[1]
        w_shape, b_shape = (weight.shape[0], -1, 1, 1, 1), (1, -1, 1, 1)
    else:
        channels, w_shape, b_shape = weight.shape[0], (-1, 1, 1, 1), (1, -1, 1, 1)
    scale_factor, istd = fold_scale(gamma, bn_var, eps, channels)
    w_fold = weight * scale_factor.reshape(w_shape)
    b_fold = fold_bias(gamma, beta, bias, bn_mean, istd, channels).reshape(b_shape)
    return w_fold, b_fold


def _fused(layer: Module, bn: Module | None, relu: Module | None, size_ok: bool,
           what: str) -> type:
    key = tuple(type(m) for m in (layer, bn, relu) if m)
    if bn is not None:
        assert layer.training == bn.training, (
            f"{what} and BN both must be in the same mode (train or eval)."
        )
        assert size_ok, f"Output channel of {what} must match num_features of the BatchNorm"
        key += (layer.training,)
    if key not in _MAP_TO_FUSED_MODULE:
        names = ", ".join(t.__name__ for t in key if isinstance(t, type))
        raise TypeError(f"bn_fusion: cannot fuse ({names})")
    return _MAP_TO_FUSED_MODULE[key]


def _fill(module: Module, inner: Module, layer: Module, bn: Module | None,
          transpose: bool = False) -> Module:
    weight, bias = layer.weight, layer.bias
    if not layer.training and bn is not None:
        weight, bias = fold_weight_bias(
            weight, bias, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps,
            transpose,
        )
    inner.weight = Parameter(weight)
    if bias is not None:
        inner.bias = Parameter(bias)
    if bn is not None and layer.training:
        module.bn = deepcopy(bn)
    inner.training = layer.training
    return module


def fuse_conv_bn_relu_module(conv: Conv2d | ConvTranspose2d, bn: BatchNorm2d | None,
                             relu: ReLU | None) -> Module:
    """One module for ``conv`` (a ``Conv2d`` or ``ConvTranspose2d``) -> ``bn`` -> ``relu``
    (``bn``/``relu`` may be None).

    Raises:
        AssertionError: conv and bn in different modes, or channel counts that differ.
        TypeError: a combination with no fused module.
    """
    size_ok = bn is None or bn.num_features == conv.out_channels
    transpose = isinstance(conv, ConvTranspose2d)
    extra = {"output_padding": conv.output_padding} if transpose else {
        "padding_mode": conv.padding_mode}
    module = _fused(conv, bn, relu, size_ok, type(conv).__name__)(
        in_channels=conv.in_channels, out_channels=conv.out_channels,
        kernel_size=conv.kernel_size, stride=conv.stride, padding=conv.padding,
        dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,
        conv_mode=conv.conv_mode, compute_mode=conv.compute_mode, name=conv.name, **extra,
    )
    inner = module
    if bn is not None and conv.training:
        inner = module.conv_transpose2d if transpose else module.conv
    return _fill(module, inner, conv, bn, transpose)


def fuse_linear_bn_relu_module(
    linear: Linear, bn: BatchNorm1d | None, relu: ReLU | None
) -> Module:
    """One module for ``linear`` -> ``bn`` -> ``relu`` (``bn``/``relu`` may be None).

    Raises:
        AssertionError: linear and bn in different modes, or sizes that differ.
        TypeError: a combination with no fused module.
    """
    size_ok = bn is None or bn.num_features == linear.out_features
    module = _fused(linear, bn, relu, size_ok, "Linear")(
        in_features=linear.in_features, out_features=linear.out_features,
        bias=linear.bias is not None, compute_mode=linear.compute_mode, name=linear.name,
    )
    inner = module if bn is None or not linear.training else module.linear
    return _fill(module, inner, linear, bn)


__all__ = ["fold_weight_bias", "fuse_conv_bn_relu_module", "fuse_linear_bn_relu_module"]
