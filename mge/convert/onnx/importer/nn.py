"""ONNX converters for neural-network ops: Conv, ConvTranspose, BatchNormalization, Gemm,
MatMul, Softmax, Pad, PRelu (see :mod:`.node`; pooling and Resize have their own modules).

Weights are rearranged once, at import time, into the layouts MegEngine's functions
take (grouped conv weights ``[groups, out/groups, in/groups, kh, kw]``, biases and
batch-norm statistics ``[1, C, 1, 1]``, Gemm weights ``[out, in]``). Asymmetric pads
become an ``F.nn.pad`` before the conv or pooling. 1-d convolutions and pools run as 2-d
ones on ``[N, C, 1, L]`` (:func:`lift_1d`, :class:`Lifted1d`).

Example:
    >>> import mge
    >>> from mge.convert.onnx.importer.node import Identity
    >>> op = Lifted1d(Identity())  # a 2-d op applied to a 1-d input
    >>> op(None, mge.tensor(np.zeros((1, 2, 5)))).shape
    (1, 2, 5)
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import (
    Converted,
    Node,
    OnnxOp,
    Unsupported,
    call,
    converter,
    normalize_axis,
)

PadWidth = tuple[tuple[int, int], ...]


def _explicit_pads(node: Node, nd: int) -> list[int] | None:
    """The ``pads`` attribute of an ``nd``-d window when ``auto_pad`` does not override it
    (VALID: zeros)."""
    auto_pad = node.attr("auto_pad", "NOTSET")
    zeros = [0] * 2 * nd
    if auto_pad == "VALID":
        return zeros
    return list(node.attr("pads", zeros)) if auto_pad == "NOTSET" else None


def _spread(node: Node, totals: list[int]) -> list[int]:
    """ONNX ``[begins..., ends...]`` sharing each total padding: the odd pixel goes to the
    end for ``SAME_UPPER``, to the beginning otherwise."""
    upper = node.attr("auto_pad", "NOTSET") == "SAME_UPPER"
    begins = [t // 2 if upper else t - t // 2 for t in totals]
    return begins + [t - b for t, b in zip(totals, begins)]


def _static_input_shape(node: Node, ctx: Any) -> tuple[int, ...]:
    shape = ctx.static_shape(node.input(0))
    if shape is None:
        raise Unsupported("auto_pad/output_shape need a static input shape")
    if len(shape) == 3:  # a 1-d window op, lifted to 2-d (lift_1d)
        shape = (*shape[:2], 1, shape[2])
    return shape


def lift_1d(node: Node) -> Node:
    """A copy of a 1-d window node (Conv, ConvTranspose, pooling) with its attributes made
    2-d: a window of size 1 and no padding on the added axis."""
    lifted = copy.copy(node)
    lifted.attrs = dict(node.attrs)
    for name, first in (("kernel_shape", 1), ("strides", 1), ("dilations", 1),
                        ("output_padding", 0), ("output_shape", 1)):
        if name in node.attrs:
            lifted.attrs[name] = [first, *node.attrs[name]]
    if "pads" in node.attrs:
        begin, end = node.attrs["pads"]
        lifted.attrs["pads"] = [0, begin, 0, end]
    return lifted


@dataclasses.dataclass(frozen=True)
class Lifted1d(OnnxOp):
    """A 2-d op run on a 1-d input ``[N, C, L]`` seen as ``[N, C, 1, L]``."""

    inner: OnnxOp

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return F.squeeze(self.inner(mod, F.expand_dims(x, 2)), 2)


def _spatial_pads(node: Node, ctx: Any, kernel: list[int], strides: list[int],
                  dilations: list[int]) -> list[int]:
    """ONNX ``pads`` ``[begin..., end...]`` from ``pads`` or SAME ``auto_pad``."""
    pads = _explicit_pads(node, len(kernel))
    if pads is not None:
        return pads
    sizes = _static_input_shape(node, ctx)[2:]
    return _spread(node, [
        max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
        for n, k, s, d in zip(sizes, kernel, strides, dilations)
    ])


def _split_pads(pads: list[int]) -> tuple[tuple[int, ...], PadWidth | None]:
    """Symmetric pads per spatial axis (``(pad_h, pad_w)`` in 2-d) for the op plus the
    remainder as an explicit pad width."""
    nd = len(pads) // 2
    sym = tuple(min(pads[a], pads[a + nd]) for a in range(nd))
    extra = ((0, 0), (0, 0), *((pads[a] - sym[a], pads[a + nd] - sym[a]) for a in range(nd)))
    return sym, (extra if any(a or b for a, b in extra) else None)


def window_attrs(
    node: Node, ctx: Any, kernel: list[int], ranks: tuple[int, ...] = (2,)
) -> tuple[list[int], list[int], list[int]]:
    """Strides, dilations and ONNX pads of a window op whose kernel rank is in ``ranks``."""
    if len(kernel) not in ranks:
        raise Unsupported(f"only {' and '.join(f'{r}-d' for r in ranks)} windows are "
                          f"supported, got kernel {list(kernel)}")
    strides = list(node.attr("strides", [1] * len(kernel)))
    dilations = list(node.attr("dilations", [1] * len(kernel)))
    return strides, dilations, _spatial_pads(node, ctx, kernel, strides, dilations)


def _optional_attr(mod: Any, name: str | None) -> Tensor | None:
    return None if name is None else getattr(mod, name)


# ------------------------------------------------------------------ convolution
@dataclasses.dataclass(frozen=True)
class Conv2d(OnnxOp):
    """``F.nn.conv2d`` (``F.nn.conv3d`` for 3-d windows) on the module's weight and bias,
    after an optional asymmetric pad."""

    weight: str
    bias: str | None
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    pad_width: PadWidth | None

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        if self.pad_width is not None:
            x = F.nn.pad(x, self.pad_width)
        conv = F.nn.conv3d if len(self.stride) == 3 else F.nn.conv2d
        return conv(x, getattr(mod, self.weight), _optional_attr(mod, self.bias),
                    self.stride, self.padding, self.dilation, self.groups)


def _conv_1d_or_2d(node: Node, ctx: Any, what: str,
                   conv2d: Callable[[Node, Any, np.ndarray], Converted]) -> Converted:
    """A 2-d or 3-d ``Conv``/``ConvTranspose`` converted by ``conv2d``; a 1-d one (3-d
    weight) lifted to 2-d on ``[N, C, 1, L]``."""
    weight = ctx.const(node.input(1), f"{node.op_type} weight")
    if weight.ndim not in (3, 4, 5):
        raise Unsupported(f"only 1-d, 2-d and 3-d {what} is supported (weight shape "
                          f"{weight.shape})")
    if weight.ndim == 3:
        op, inputs, outputs = conv2d(lift_1d(node), ctx, weight[:, :, None, :])
        return Lifted1d(op), inputs, outputs
    return conv2d(node, ctx, weight)


@converter("Conv")
def _conv(node: Node, ctx: Any) -> Converted:
    return _conv_1d_or_2d(node, ctx, "convolution", _conv2d)


def _conv2d(node: Node, ctx: Any, weight: np.ndarray) -> tuple[OnnxOp, list[str], list[str]]:
    kernel = list(node.attr("kernel_shape", weight.shape[2:]))
    strides, dilations, pads = window_attrs(node, ctx, kernel, (2, 3))
    groups = int(node.attr("group", 1))
    out_ch = weight.shape[0]
    if groups > 1:
        weight = weight.reshape(groups, out_ch // groups, *weight.shape[1:])
    w_attr = ctx.attribute(node.input(1), weight)
    b_attr = None
    if node.input(2):
        bias = ctx.const(node.input(2), "Conv bias")
        b_attr = ctx.attribute(node.input(2), bias.reshape(1, out_ch, *[1] * len(kernel)))
    padding, pad_width = _split_pads(pads)
    op = Conv2d(w_attr, b_attr, tuple(strides), padding, tuple(dilations), groups, pad_width)
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class ConvTranspose2d(OnnxOp):
    """``F.nn.conv_transpose2d`` (``conv_transpose3d`` for 3-d windows) with symmetric
    padding, then a crop for the asymmetric remainder (``(top, left, bottom, right)`` in
    2-d: the begins, then the ends)."""

    weight: str
    bias: str | None
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    crop: tuple[int, ...]

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        nd = len(self.stride)
        deconv = F.nn.conv_transpose3d if nd == 3 else F.nn.conv_transpose2d
        y = deconv(x, getattr(mod, self.weight), _optional_attr(mod, self.bias),
                   self.stride, self.padding, self.output_padding, self.dilation, self.groups)
        if not any(self.crop):
            return y
        window = tuple(slice(self.crop[a], y.shape[2 + a] - self.crop[a + nd])
                       for a in range(nd))
        return y[(slice(None), slice(None), *window)]


def _transposed_pads(node: Node, ctx: Any, kernel: list[int], strides: list[int],
                     dilations: list[int], extra: list[int]) -> list[int]:
    """ONNX ConvTranspose pads, derived from ``output_shape`` or SAME ``auto_pad`` if set."""
    out_shape = node.attr("output_shape")
    pads = _explicit_pads(node, len(kernel))
    if out_shape is None and pads is not None:
        return pads
    sizes = _static_input_shape(node, ctx)[2:]
    targets = list(out_shape)[-len(kernel):] if out_shape is not None else \
        [n * s for n, s in zip(sizes, strides)]
    totals = [s * (n - 1) + e + (k - 1) * d + 1 - t
              for n, k, s, d, e, t in zip(sizes, kernel, strides, dilations, extra, targets)]
    pads = _spread(node, totals)
    if min(pads[:2]) < 0:
        raise Unsupported(f"output_shape {out_shape} extends the full output at the start")
    return pads  # a negative end pad: output rows past the full output (bias only)


@converter("ConvTranspose")
def _conv_transpose(node: Node, ctx: Any) -> Converted:
    return _conv_1d_or_2d(node, ctx, "ConvTranspose", _conv_transpose2d)


def _conv_transpose2d(node: Node, ctx: Any,
                      weight: np.ndarray) -> tuple[OnnxOp, list[str], list[str]]:
    kernel = list(node.attr("kernel_shape", weight.shape[2:]))
    nd = len(kernel)
    strides = list(node.attr("strides", [1] * nd))
    dilations = list(node.attr("dilations", [1] * nd))
    extra = list(node.attr("output_padding", [0] * nd))
    pads = _transposed_pads(node, ctx, kernel, strides, dilations, extra)
    groups = int(node.attr("group", 1))
    out_ch = weight.shape[1] * groups
    if groups > 1:
        weight = weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])
    w_attr = ctx.attribute(node.input(1), weight)
    b_attr = None
    if node.input(2):
        bias = ctx.const(node.input(2), "ConvTranspose bias")
        b_attr = ctx.attribute(node.input(2), bias.reshape(1, out_ch, *[1] * nd))
    padding, crop, out_pad = [], [0] * 2 * nd, []
    for axis in range(nd):
        begin, end = pads[axis], pads[axis + nd]
        if end < 0:  # output_shape beyond the full output: more output padding
            extra[axis] -= end
            end = 0
        sym = min(begin, end)
        padding.append(sym)
        crop[axis] = begin - sym
        # output_padding first eats into the end crop; the rest is real extra output
        crop[axis + nd] = max(0, end - sym - extra[axis])
        out_pad.append(max(0, extra[axis] - (end - sym)))
    op = ConvTranspose2d(w_attr, b_attr, tuple(strides), tuple(padding), tuple(out_pad),
                         tuple(dilations), groups, tuple(crop))
    return op, node.inputs[:1], node.outputs[:1]


# ------------------------------------------------------------------ normalization
@dataclasses.dataclass(frozen=True)
class BatchNorm(OnnxOp):
    """Inference ``F.nn.batch_norm`` (inputs of other ranks viewed as ``[N, C, -1, 1]``)."""

    mean: str
    var: str
    weight: str
    bias: str
    eps: float

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        shape = x.shape
        y = x if x.ndim == 4 else F.reshape(x, (shape[0], shape[1], -1, 1))
        y = F.nn.batch_norm(y, getattr(mod, self.mean), getattr(mod, self.var),
                            getattr(mod, self.weight), getattr(mod, self.bias),
                            training=False, eps=self.eps)
        return y if x.ndim == 4 else F.reshape(y, shape)


@dataclasses.dataclass(frozen=True)
class BatchNormTraining(OnnxOp):
    """Training-mode BatchNormalization: normalize by the batch statistics (biased
    variance over every axis but 1) and return the updated running mean and variance
    (``running * momentum + batch * (1 - momentum)``)."""

    eps: float
    momentum: float

    def __call__(self, mod: Any, x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor,
                 var: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        axes = tuple(a for a in range(x.ndim) if a != 1)
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        batch_mean = F.mean(x, axis=axes, keepdims=True)
        batch_var = F.mean(F.square(F.sub(x, batch_mean)), axis=axes, keepdims=True)
        y = F.div(F.sub(x, batch_mean), F.sqrt(F.add(batch_var, self.eps)))
        y = F.add(F.mul(y, F.reshape(scale, shape)), F.reshape(bias, shape))
        keep = 1.0 - self.momentum
        running_mean = F.add(F.mul(mean, self.momentum),
                             F.mul(F.reshape(batch_mean, (-1,)), keep))
        running_var = F.add(F.mul(var, self.momentum), F.mul(F.reshape(batch_var, (-1,)), keep))
        return y, running_mean, running_var


@converter("BatchNormalization")
def _batch_norm(node: Node, ctx: Any) -> Converted:
    if node.attr("training_mode", 0):
        node.reject_attrs(spatial=1)
        op = BatchNormTraining(float(node.attr("epsilon", 1e-5)),
                               float(node.attr("momentum", 0.9)))
        return op, node.inputs[:5], node.outputs[:3]
    node.reject_attrs(training_mode=0, spatial=1)
    if len([o for o in node.outputs if o]) > 1:
        raise Unsupported("training outputs (running mean/var) are not supported")
    names = ("scale", "bias", "mean", "var")
    values = [ctx.const(node.input(i + 1), f"BatchNormalization {w}") for i, w in enumerate(names)]
    attrs = [
        ctx.attribute(node.input(i + 1), v.reshape(1, -1, 1, 1), "param" if i < 2 else "buffer")
        for i, v in enumerate(values)
    ]
    op = BatchNorm(attrs[2], attrs[3], attrs[0], attrs[1], float(node.attr("epsilon", 1e-5)))
    return op, node.inputs[:1], node.outputs[:1]


# ------------------------------------------------------------------ dense
@dataclasses.dataclass(frozen=True)
class Gemm(OnnxOp):
    """``alpha * A' @ B' + beta * C``: ``F.nn.linear`` when B is a weight (alpha folded in),
    ``F.matmul`` otherwise; a constant C is the stored ``bias`` (beta folded in)."""

    weight: str | None
    bias: str | None
    transpose_a: bool
    transpose_b: bool
    alpha: float
    beta: float

    def __call__(self, mod: Any, a: Tensor, *rest: Tensor) -> Tensor:
        runtime = list(rest)
        if self.weight is not None:
            if self.transpose_a:
                a = F.transpose(a, (1, 0))
            y = F.nn.linear(a, getattr(mod, self.weight), _optional_attr(mod, self.bias))
        else:
            y = F.matmul(a, runtime.pop(0), self.transpose_a, self.transpose_b)
            if self.alpha != 1.0:
                y = F.mul(y, self.alpha)
            if self.bias is not None:
                y = F.add(y, getattr(mod, self.bias))
        if runtime:
            c = runtime[0]
            y = F.add(y, c if self.beta == 1.0 else F.mul(c, self.beta))
        return y


@converter("Gemm")
def _gemm(node: Node, ctx: Any) -> Converted:
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    trans_a, trans_b = bool(node.attr("transA", 0)), bool(node.attr("transB", 0))
    a, b, c = node.input(0), node.input(1), node.input(2)
    inputs = [a]
    weight = bias = None
    if ctx.is_const(b):
        w = ctx.consts[b] if trans_b else ctx.consts[b].T
        weight = ctx.attribute(b, (w * alpha if alpha != 1.0 else w).astype(w.dtype))
    else:
        inputs.append(b)
    if c and ctx.is_const(c):
        value = ctx.consts[c]
        bias = ctx.attribute(c, (value * beta if beta != 1.0 else value).astype(value.dtype))
    elif c:
        inputs.append(c)
    op = Gemm(weight, bias, trans_a, trans_b, alpha, beta)
    return op, inputs, node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class MatMulWeight(OnnxOp):
    """``F.matmul(x, weight)`` with a stored right-hand weight."""

    weight: str

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return F.matmul(x, getattr(mod, self.weight))


@dataclasses.dataclass(frozen=True)
class MatMul(OnnxOp):
    """``F.matmul`` with numpy's broadcasting of the batch dims (MegEngine needs them
    equal, or one operand at most 2-d); float16 operands accumulate in float32."""

    def __call__(self, mod: Any, a: Tensor, b: Tensor) -> Tensor:
        if a.ndim > 2 and b.ndim > 2 and a.shape[:-2] != b.shape[:-2]:
            batch = np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
            a = F.broadcast_to(a, (*batch, *a.shape[-2:]))
            b = F.broadcast_to(b, (*batch, *b.shape[-2:]))
        if np.dtype(a.dtype) == np.float16:  # accumulate in float32
            product = F.matmul(F.astype(a, "float32"), F.astype(b, "float32"))
            return F.astype(product, "float16")
        return F.matmul(a, b)


@converter("MatMul")
def _matmul(node: Node, ctx: Any) -> Converted:
    a, b = node.input(0), node.input(1)
    if ctx.is_const(b) and not ctx.is_const(a) and ctx.consts[b].ndim <= 2:
        return MatMulWeight(ctx.attribute(b, ctx.consts[b])), [a], node.outputs[:1]
    return MatMul(), [a, b], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class PRelu(OnnxOp):
    """``F.prelu`` with a stored slope."""

    slope: str

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        return F.prelu(x, getattr(mod, self.slope))


@converter("PRelu")
def _prelu(node: Node, ctx: Any) -> Converted:
    slope = ctx.const(node.input(1), "PRelu slope")
    return PRelu(ctx.attribute(node.input(1), slope)), node.inputs[:1], node.outputs[:1]


# ------------------------------------------------------------------ softmax
@dataclasses.dataclass(frozen=True)
class Softmax(OnnxOp):
    """``F.nn.softmax``/``logsoftmax`` along ``axis``; before opset 13 ONNX flattens the
    input to 2-d at ``axis`` first."""

    fn: str
    axis: int
    coerce_2d: bool

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        dtype = x.dtype
        if np.dtype(dtype) == np.float16:  # exponentials and sums in float32
            x = F.astype(x, "float32")
        fn = getattr(F.nn, self.fn)
        axis = normalize_axis(self.axis, x.ndim)
        if not self.coerce_2d or axis == x.ndim - 1:
            y = fn(x, axis=axis)
        else:
            flat = F.reshape(x, (math.prod(x.shape[:axis]), -1))
            y = F.reshape(fn(flat, axis=1), x.shape)
        return F.astype(y, dtype) if y.dtype != dtype else y


@converter("Softmax", "LogSoftmax")
def _softmax(node: Node, ctx: Any) -> Converted:
    old = ctx.opset < 13
    fn = "softmax" if node.op_type == "Softmax" else "logsoftmax"
    op = Softmax(fn, int(node.attr("axis", 1 if old else -1)), old)
    return op, node.inputs[:1], node.outputs[:1]


# ------------------------------------------------------------------ pad
_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


@converter("Pad")
def _pad(node: Node, ctx: Any) -> Converted:
    mode = node.attr("mode", "constant")
    if mode not in _PAD_MODES and mode != "wrap":
        raise Unsupported(f"Pad mode {mode!r} is not supported")
    if ctx.opset < 11:
        pads, value = list(node.attr("pads")), float(node.attr("value", 0.0))
    else:
        pads = [int(p) for p in ctx.const(node.input(1), "Pad pads")]
        value_name = node.input(2)
        value = float(np.asarray(ctx.const(value_name, "Pad value")).reshape(())) \
            if value_name else 0.0
    half = len(pads) // 2
    width = [(pads[i], pads[i + half]) for i in range(half)]
    if ctx.opset >= 18 and node.input(3):
        axes = [int(a) for a in np.asarray(ctx.const(node.input(3), "Pad axes")).reshape(-1)]
        shape = ctx.static_shape(node.input(0))
        if shape is None:
            raise Unsupported("Pad with axes needs the input's rank")
        full = [(0, 0)] * len(shape)
        for axis, pair in zip(axes, width, strict=True):
            full[normalize_axis(axis, len(shape))] = pair
        width = full
    if any(p < 0 for pair in width for p in pair):
        raise Unsupported(f"negative pads {pads} are not supported")
    width = tuple(width)
    if mode == "wrap":
        return WrapPad(width), node.inputs[:1], node.outputs[:1]
    op = call("nn.pad", pad_width=width, mode=_PAD_MODES[mode], constant_value=value)
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class WrapPad(OnnxOp):
    """Pad ``wrap``: each axis extended with its own last (before) and first (after)
    elements, as ``numpy.pad(mode="wrap")`` (pads no longer than the axis)."""

    width: PadWidth

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        for axis, (before, after) in enumerate(self.width):
            size = x.shape[axis]
            if before > size or after > size:
                raise ValueError(f"Pad wrap: pads ({before}, {after}) exceed axis {axis} of "
                                 f"shape {tuple(x.shape)}")
            lead = (slice(None),) * axis
            parts = [x[(*lead, slice(size - before, size))]] if before else []
            parts.append(x)
            if after:
                parts.append(x[(*lead, slice(0, after))])
            x = F.concat(parts, axis=axis) if len(parts) > 1 else x
        return x


__all__: list[str] = []
