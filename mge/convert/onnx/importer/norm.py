"""ONNX converters for normalizations: Layer, RMS, Group, Instance, Lp, mean-variance
normalization and LRN, written as MegEngine reductions and elementwise ops (see
:mod:`.node`).

Scales and biases may be constants or run-time values (they are only multiplied and
added). Statistics are computed in float32 (ONNX's default ``stash_type``) and the result
is returned in the input's type. LayerNormalization also returns its saved mean and
inverse standard deviation (float32) when the graph uses them.

Example:
    >>> import mge
    >>> Normalize("layer", 1, 1e-5)(None, mge.tensor([[1.0, 3.0]])).numpy()
    array([[-0.999995,  0.999995]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter, float_input, normalize_axis

#: the op names this module's strings speak: ONNX's (``converter("LRN")`` converts an ONNX
#: node), not mge's registered op types (``tests/ops/test_op_homes.py`` checks each)
OP_VOCABULARY = "onnx"


def _standardize(x: Tensor, axis: tuple[int, ...], eps: float, center: bool) -> Tensor:
    """``(x - mean) / sqrt(var + eps)`` over ``axis`` (RMS: ``x / sqrt(mean(x^2) + eps)``)."""
    if center:
        x = F.sub(x, F.mean(x, axis=axis, keepdims=True))
    power = F.mean(F.square(x), axis=axis, keepdims=True)
    return F.div(x, F.sqrt(F.add(power, eps)))


@dataclasses.dataclass(frozen=True)
class Normalize(OnnxOp):
    """``kind`` "layer"/"rms": over the axes from ``axis`` on; "instance": over the spatial
    axes; "group": over ``groups`` groups of channels and the spatial axes. Then
    ``* scale + bias`` (per channel for instance/group, broadcast for layer/rms)."""

    kind: str
    axis: int
    eps: float
    groups: int = 1
    per_group_affine: bool = False

    def __call__(self, mod: Any, x: Tensor, scale: Tensor | None = None,
                 bias: Tensor | None = None) -> Tensor:
        dtype = x.dtype
        y = F.astype(x, "float32")
        shape = tuple(x.shape)
        if self.kind in ("layer", "rms"):
            axes = tuple(range(normalize_axis(self.axis, x.ndim), x.ndim))
            y = _standardize(y, axes, self.eps, self.kind == "layer")
            affine_shape = None
        elif self.kind == "instance":
            y = _standardize(y, tuple(range(2, x.ndim)), self.eps, True)
            affine_shape = (1, shape[1]) + (1,) * (x.ndim - 2)
        else:  # group
            grouped = F.reshape(y, (shape[0], self.groups, -1))
            y = _standardize(grouped, (2,), self.eps, True)
            if self.per_group_affine:
                affine_shape = (1, self.groups, 1)
            else:
                y = F.reshape(y, shape)
                affine_shape = (1, shape[1]) + (1,) * (x.ndim - 2)
        y = F.astype(y, dtype)
        if scale is not None:
            y = F.mul(y, scale if affine_shape is None else F.reshape(scale, affine_shape))
        if bias is not None:
            y = F.add(y, bias if affine_shape is None else F.reshape(bias, affine_shape))
        return F.reshape(y, shape) if y.shape != shape else y


def _only_first_output(node: Node, ctx: Any) -> None:
    if any(o in ctx.used for o in node.outputs[1:] if o):
        raise Unsupported("only the normalized output is supported (not the saved mean or "
                          "inverse standard deviation)")


@dataclasses.dataclass(frozen=True)
class LayerNormStats(OnnxOp):
    """ONNX LayerNormalization with its saved statistics: the normalized output, the mean
    and the inverse standard deviation over the axes from ``axis`` on (kept as size 1,
    in float32)."""

    axis: int
    eps: float

    def __call__(self, mod: Any, x: Tensor, scale: Tensor,
                 bias: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        y = F.astype(x, "float32")
        axes = tuple(range(normalize_axis(self.axis, x.ndim), x.ndim))
        mean = F.mean(y, axis=axes, keepdims=True)
        centered = F.sub(y, mean)
        variance = F.mean(F.square(centered), axis=axes, keepdims=True)
        inv_std = F.div(F.ones_like(variance), F.sqrt(F.add(variance, self.eps)))
        out = F.mul(F.astype(F.mul(centered, inv_std), x.dtype), scale)
        return (out if bias is None else F.add(out, bias)), mean, inv_std


@converter("LayerNormalization", "RMSNormalization")
def _layer_norm(node: Node, ctx: Any) -> Converted:
    axis, eps = int(node.attr("axis", -1)), float(node.attr("epsilon", 1e-5))
    inputs = [i for i in node.inputs if i]
    if node.op_type == "LayerNormalization" and any(o in ctx.used for o in node.outputs[1:]
                                                    if o):
        if node.attr("stash_type", 1) != 1:
            raise Unsupported("statistics in a stash_type other than float32")
        return LayerNormStats(axis, eps), inputs, node.outputs[:3]
    _only_first_output(node, ctx)
    kind = "layer" if node.op_type == "LayerNormalization" else "rms"
    return Normalize(kind, axis, eps), inputs, node.outputs[:1]


@converter("InstanceNormalization")
def _instance_norm(node: Node, ctx: Any) -> Converted:
    op = Normalize("instance", 1, float(node.attr("epsilon", 1e-5)))
    return op, node.inputs[:3], node.outputs[:1]


@converter("GroupNormalization")
def _group_norm(node: Node, ctx: Any) -> Converted:
    groups = int(node.attr("num_groups"))
    shape = ctx.static_shape(node.input(0))
    # opset 18 gave scale and bias per group; opset 21 per channel
    per_group = ctx.opset < 21 and not (shape is not None and shape[1] == groups)
    op = Normalize("group", 1, float(node.attr("epsilon", 1e-5)), groups, per_group)
    return op, node.inputs[:3], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class LpNormalize(OnnxOp):
    """``x / ||x||_p`` along ``axis`` (0 where the norm is 0)."""

    axis: int
    p: int

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        axis = normalize_axis(self.axis, x.ndim)
        terms = F.abs(x) if self.p == 1 else F.square(x)
        norm = F.sum(terms, axis=axis, keepdims=True)
        norm = norm if self.p == 1 else F.sqrt(norm)
        zero = F.equal(norm, F.zeros_like(norm))
        safe = F.where(zero, F.ones_like(norm), norm)
        return F.where(F.broadcast_to(zero, x.shape), F.zeros_like(x), F.div(x, safe))


@converter("LpNormalization")
def _lp_norm(node: Node, ctx: Any) -> Converted:
    p = int(node.attr("p", 2))
    if p not in (1, 2):
        raise Unsupported(f"LpNormalization p={p} (1 and 2 are supported)")
    return LpNormalize(int(node.attr("axis", -1)), p), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class LocalResponseNorm(OnnxOp):
    """ONNX LRN: ``x / (bias + alpha / size * sum of x^2 over a window of channels)^beta``.
    The window sum is an average pooling (padding counted) of ``x^2`` seen as ``[N, 1,
    C, H*W]``, padded with ``floor((size-1)/2)`` channels before and ``ceil`` after."""

    size: int
    alpha: float
    beta: float
    bias: float

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        squares = F.reshape(F.square(x), (shape[0], 1, shape[1], -1))
        before = (self.size - 1) // 2
        padded = F.nn.pad(squares, ((0, 0), (0, 0), (before, self.size - 1 - before), (0, 0)))
        window = F.nn.avg_pool2d(padded, (self.size, 1), (1, 1), mode="average")
        scale = F.add(F.mul(F.reshape(window, shape), self.alpha), self.bias)
        return F.div(x, F.pow(scale, F.full_like(scale, self.beta)))


@converter("LRN")
def _lrn(node: Node, ctx: Any) -> Converted:
    float_input(node, ctx)
    op = LocalResponseNorm(int(node.attr("size")), float(node.attr("alpha", 1e-4)),
                           float(node.attr("beta", 0.75)), float(node.attr("bias", 1.0)))
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class MeanVarianceNormalize(OnnxOp):
    """ONNX MeanVarianceNormalization over ``axes``: ``(x - E[x]) / (sqrt(E[x^2] - E[x]^2)
    + 1e-9)``, as its function body computes it."""

    axes: tuple[int, ...]

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        axes = tuple(sorted({normalize_axis(a, x.ndim) for a in self.axes}))
        mean = F.mean(x, axis=axes, keepdims=True)
        variance = F.sub(F.mean(F.square(x), axis=axes, keepdims=True), F.square(mean))
        return F.div(F.sub(x, mean), F.add(F.sqrt(variance), 1e-9))


@converter("MeanVarianceNormalization")
def _mean_variance(node: Node, ctx: Any) -> Converted:
    axes = tuple(int(a) for a in node.attr("axes", [0, 2, 3]))
    return MeanVarianceNormalize(axes), node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
