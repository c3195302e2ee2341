"""Empirical bias correction of a quantized network (mge's own PTQ step; MegEngine 1.13 has
none, and nothing in ``quantize`` calls it).

Rounding the weights to int8 and the activations to their scales shifts the mean of
every layer's output a little, and the shifts add up through a deep network (Nagel et
al., "Data-Free Quantization", 2019, section 4.2; here measured on data, as in
"empirical bias correction"). :func:`correct_bias` measures, for every quantized
``Conv2d``/``Linear`` family module in network order, the per-output-channel mean of
its pre-activation output in the float network and in the quantized network (with the
layers before it already corrected), and adds the difference to the quantized module's
bias. The bias is stored in float and converted to ``qint32`` of scale ``input scale *
weight scale`` at each call and in a dump, so the correction is folded into the int32
bias that MegEngine Lite runs; no operator is added.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> from mge.quantization import (calibration_qconfig, correct_bias, quantize,
    ...                               quantize_qat)
    >>> net = M.Sequential(M.QuantStub(), M.Conv2d(3, 4, 3), M.DequantStub())
    >>> net.eval()
    >>> x = np.random.default_rng(0).normal(size=(8, 3, 8, 8)).astype("float32")
    >>> qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    >>> _ = qat(mge.tensor(x))
    >>> q = quantize(qat, inplace=False)
    >>> q.eval()
    >>> sorted(correct_bias(net, q, x))
    ['1']
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..dtype import code_zero_point, get_scale, is_quantize, quantized_range
from ..module import Module
from ..module import quantized as Quantized
from ..module.conv import Conv2d as FloatConv2d
from ..module.conv import _ConvBnActivation2d
from ..module.linear import Linear as FloatLinear
from ..module.linear_bn import _LinearBnActivation1d
from ..tensor import Tensor

_CORRECTED = (Quantized.Conv2d, Quantized.Linear)


def _as_batches(data: Any) -> list[np.ndarray]:
    if isinstance(data, (Tensor, np.ndarray)):
        data = [data]
    batches = [d.numpy() if isinstance(d, Tensor) else np.asarray(d) for d in data]
    if not batches:
        raise ValueError("correct_bias: no calibration data")
    return batches


def _float_pre_activation(module: Module, inp: Tensor) -> Tensor:
    """The float module's output before its activation (BatchNorm included)."""
    if isinstance(module, _ConvBnActivation2d):
        return module.bn(module.conv(inp))
    if isinstance(module, _LinearBnActivation1d):
        return module.bn(module.linear(inp))
    if isinstance(module, FloatConv2d):
        return module.calc_conv(inp, module.weight, module.bias)
    if isinstance(module, FloatLinear):
        return module.calc_linear(inp, module.weight, module.bias)
    raise TypeError(f"correct_bias: no float pre-activation for {type(module).__name__}")


def _quantized_pre_activation(module: Module, inp: Tensor) -> Tensor:
    if isinstance(module, Quantized.Conv2d):
        return module.calc_conv_quantized(inp, nonlinear_mode="identity")
    return module.calc_linear_quantized(inp, nonlinear_mode="identity")


def _channel_mean(x: np.ndarray) -> np.ndarray:
    """Mean over every axis but the channel axis 1."""
    return x.mean(axis=(0, *range(2, x.ndim)), dtype=np.float64)


def _output_range(module: Module) -> tuple[float, float]:
    """The float range the module's quantized output dtype can hold."""
    dtype = module.output_dtype
    qmin, qmax = quantized_range(dtype)
    scale, zero = get_scale(dtype), code_zero_point(dtype)
    return (qmin - zero) * scale, (qmax - zero) * scale


def correct_bias(
    float_module: Module, quantized_module: Module, data: Any,
    clip_to_output_range: bool = True,
) -> dict[str, np.ndarray]:
    """Add to every quantized Conv2d/Linear-family module's bias the per-channel mean of
    (float pre-activation output - quantized pre-activation output) over ``data``.

    Layers are corrected in network order, each measured with the layers before it
    already corrected (one forward pass of the quantized network over all of ``data``,
    so keep it to a few dozen samples). ``quantized_module`` is changed in place.

    Args:
        float_module: the float network ``quantized_module`` was quantized from (after any
            weight edits such as :func:`equalize_cross_layer`), in eval mode; modules are
            paired by their names.
        quantized_module: the output of :func:`quantize`.
        data: calibration input: one array/Tensor or a sequence of batches.
        clip_to_output_range: compare with the float output clipped to what the
            quantized output dtype holds, so that clipping chosen by the activation
            observer is not "corrected" into a shift of every value.

    Returns:
        ``{module name: correction added to its bias}`` (float, per output channel).

    Raises:
        ValueError: no data, or a quantized module with no float module of that name.
    """
    batches = _as_batches(data)
    floats = dict(float_module.named_modules())
    targets = [(name, m) for name, m in quantized_module.named_modules()
               if isinstance(m, _CORRECTED) and getattr(m, "bias", None) is not None]
    for name, _ in targets:
        if name not in floats:
            raise ValueError(f"correct_bias: quantized module {name!r} has no float module "
                             "of that name")
    sums: dict[str, np.ndarray] = {}

    def record(name: str, module: Module, inputs: tuple, _: Tensor) -> None:
        out = _float_pre_activation(module, inputs[0]).numpy()
        if clip_to_output_range:
            out = np.clip(out, *ranges[name])
        sums[name] = sums.get(name, 0) + _channel_mean(out) * out.shape[0]

    ranges = {name: _output_range(m) for name, m in targets}
    handles = [floats[name].register_forward_hook(
        lambda mod, inp, out, name=name: record(name, mod, inp, out)) for name, _ in targets]
    try:
        for batch in batches:
            float_module(Tensor(batch))
    finally:
        for h in handles:
            h.remove()
    count = sum(b.shape[0] for b in batches)
    corrections: dict[str, np.ndarray] = {}

    def correct(name: str, module: Module, inputs: tuple, _: Tensor) -> Tensor:
        pre = _quantized_pre_activation(module, inputs[0])
        value = F.elemwise.dequantize(pre) if is_quantize(pre.dtype) else pre
        delta = sums[name] / count - _channel_mean(value.numpy())
        shape = module.bias.shape
        module.bias[...] = Tensor(module.bias.numpy() + delta.astype(np.float32).reshape(shape))
        corrections[name] = delta.astype(np.float32)
        return module.forward(*inputs)

    handles = [m.register_forward_hook(
        lambda mod, inp, out, name=name: correct(name, mod, inp, out)) for name, m in targets]
    try:
        quantized_module(Tensor(np.concatenate(batches)))
    finally:
        for h in handles:
            h.remove()
    return corrections


__all__ = ["correct_bias"]
