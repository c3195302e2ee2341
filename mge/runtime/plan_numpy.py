"""The numpy plan backend: the reference kernels, with convolution, pooling and the
common elementwise ops specialised once per op.

* Convolutions (NCHW, constant filter) are bound with the filter reshaped to a matrix
  once: 1x1 stride-1 convolutions are one matrix product per image; others copy the
  ``KH*KW`` strided windows into a scratch matrix (im2col) shared by all ops of the
  plan and multiply once; depthwise ones sum ``KH*KW`` scaled slices. Bias and
  nonlinearity are applied in place.
* Global average pooling is a mean; elementwise ops write into dead inputs (``out=``).
* BLAS runs with the plan's thread count.

Everything else calls the numpy reference kernel.

Example:
    >>> plan = Plan(graph, PlanOptions(backend="numpy", threads=1))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from .cpu import blas_threads
from .plan import (
    INFERENCE_PASSES,
    BindSite,
    BoundOp,
    PlanBackend,
    PlanOptions,
    register_plan_backend,
)

F32 = np.dtype("float32")


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 6, out=x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        np.negative(x, out=x)
        np.exp(x, out=x)
        x += 1
        return np.reciprocal(x, out=x)


def _h_swish(x: np.ndarray) -> np.ndarray:
    gate = np.clip(x + 3, 0, 6)
    gate *= 1 / 6
    x *= gate
    return x


#: nonlinearities applied in place on a fresh float array
INPLACE_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "IDENTITY": lambda x: x, "RELU": _relu, "RELU6": _relu6, "SIGMOID": _sigmoid,
    "H_SWISH": _h_swish,
}
#: binary elementwise modes as (in-place binary ufunc, in-place nonlinearity after it)
INPLACE_BINARY: dict[str, tuple[np.ufunc, str]] = {
    "ADD": (np.add, "IDENTITY"), "MUL": (np.multiply, "IDENTITY"),
    "SUB": (np.subtract, "IDENTITY"), "MAX": (np.maximum, "IDENTITY"),
    "MIN": (np.minimum, "IDENTITY"), "FUSE_ADD_RELU": (np.add, "RELU"),
    "FUSE_ADD_SIGMOID": (np.add, "SIGMOID"), "FUSE_ADD_H_SWISH": (np.add, "H_SWISH"),
}
_SYMMETRIC = ("ADD", "MUL", "MAX", "MIN", "FUSE_ADD_RELU", "FUSE_ADD_SIGMOID",
              "FUSE_ADD_H_SWISH")


class Scratch:
    """Work buffers shared by the ops of one plan (they run one at a time)."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 array of ``shape`` (contents undefined) in buffer ``name``."""
        size = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.size < size:
            buf = np.empty(size, F32)
            self._buffers[name] = buf
        return buf[:size].reshape(shape)


@register_plan_backend
class NumpyPlanBackend(PlanBackend):
    """Reference numpy kernels, with the heavy ops specialised at bind time."""

    name = "numpy"
    priority = 10
    eager = "numpy"
    passes = INFERENCE_PASSES

    def __init__(self, options: PlanOptions, weights: Any) -> None:
        super().__init__(options, weights)
        self.scratch = Scratch()

    @classmethod
    def unavailable(cls, options: PlanOptions) -> str | None:
        if options.compute_dtype not in (None, "float32") and options.device_kind == "cpu":
            return f"plan backend 'numpy' computes in the graph's dtypes, not " \
                   f"{options.compute_dtype}"
        return super().unavailable(options)

    def feed(self, value: np.ndarray, var: Any) -> np.ndarray:
        return value

    def session(self) -> AbstractContextManager:
        return blas_threads(self.options.threads)

    def bind(self, site: BindSite) -> BoundOp:
        node = site.node
        binder = _BINDERS.get(node.type)
        bound = binder(self, site) if binder is not None else None
        return bound if bound is not None else super().bind(site)


# ------------------------------------------------------------------ convolution
def _conv_bind(backend: NumpyPlanBackend, site: BindSite) -> BoundOp | None:
    node, op = site.node, site.node.op
    filt = site.consts[1]
    if op.format != "NCHW" or filt is None:
        return None
    bias, extra = site.split_conv_bias()
    act = INPLACE_UNARY[getattr(op, "nonlineMode", "IDENTITY")]
    g5 = filt[None] if op.sparse == "DENSE" else filt
    if op.mode == "CONVOLUTION":
        g5 = g5[..., ::-1, ::-1]
    conv = _make_conv(backend.scratch, node.inputs[0].shape, node.outputs[0].shape,
                      g5.astype(F32), op)
    bias = None if bias is None else bias.astype(F32)
    dtype = node.outputs[0].dtype

    def run(xv: np.ndarray, *terms: np.ndarray) -> np.ndarray:
        y = conv(xv.astype(F32, copy=False))
        if bias is not None:
            y += bias
        for term in terms:
            y += term
        return act(y).astype(dtype, copy=False)

    return BoundOp(run, (0, *extra))


def _make_conv(scratch: Scratch, xshape: tuple[int, ...], oshape: tuple[int, ...],
               g5: np.ndarray, op: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A function computing the convolution of an ``xshape`` input (NCHW, float32)."""
    n, c, h, w = xshape
    _, oc, oh, ow = oshape
    groups, ocpg, icpg, kh, kw = g5.shape
    sh, sw, ph, pw = op.stride_h, op.stride_w, op.pad_h, op.pad_w
    dh, dw = op.dilate_h, op.dilate_w
    if groups == 1 and (kh, kw, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0):
        mat = np.ascontiguousarray(g5.reshape(oc, c))
        return lambda x: np.matmul(mat, x.reshape(n, c, h * w)).reshape(oshape)

    def windows(x: np.ndarray) -> Callable[[int, int], np.ndarray]:
        if ph or pw:
            xp = scratch.get("pad", (n, c, h + 2 * ph, w + 2 * pw))
            xp[:, :, :ph], xp[:, :, ph + h:] = 0, 0
            xp[:, :, ph:ph + h, :pw], xp[:, :, ph:ph + h, pw + w:] = 0, 0
            xp[:, :, ph:ph + h, pw:pw + w] = x
            x = xp
        return lambda i, j: x[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                              j * dw: j * dw + sw * (ow - 1) + 1: sw]

    if icpg == 1 and ocpg == 1:  # depthwise: sum of scaled slices
        taps = np.ascontiguousarray(g5.reshape(c, kh * kw).T).reshape(kh * kw, 1, c, 1, 1)

        def depthwise(x: np.ndarray) -> np.ndarray:
            window = windows(x)
            y = np.multiply(window(0, 0), taps[0])
            tmp = scratch.get("tap", oshape)
            for k in range(1, kh * kw):
                y += np.multiply(window(k // kw, k % kw), taps[k], out=tmp)
            return y

        return depthwise
    mat = np.ascontiguousarray(g5.reshape(groups, ocpg, icpg * kh * kw))

    def im2col(x: np.ndarray) -> np.ndarray:
        window = windows(x)
        cols = scratch.get("cols", (n, c, kh, kw, oh, ow))
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = window(i, j)
        cols = cols.reshape(n, groups, icpg * kh * kw, oh * ow)
        y = np.matmul(mat[0] if groups == 1 else mat, cols[:, 0] if groups == 1 else cols)
        return y.reshape(oshape)

    return im2col


# ------------------------------------------------------------------ pooling, elemwise
def _pool_bind(backend: NumpyPlanBackend, site: BindSite) -> BoundOp | None:
    node, op = site.node, site.node.op
    shape = node.inputs[0].shape
    if op.format != "NCHW" or op.mode == "MAX" or (op.pad_h, op.pad_w) != (0, 0) or \
            (op.window_h, op.window_w) != shape[2:] or node.inputs[0].dtype != F32:
        return None
    return BoundOp(lambda x: x.mean(axis=(2, 3), keepdims=True), (0,))


def _elemwise_bind(backend: NumpyPlanBackend, site: BindSite) -> BoundOp | None:
    node, mode = site.node, site.node.op.mode
    out = node.outputs[0]
    if out.dtype != F32 or any(v.dtype != F32 for v in node.inputs):
        return None
    target = next((k for k, v in enumerate(node.inputs)
                   if site.donated[k] and v.shape == out.shape), None)
    if mode in INPLACE_UNARY and target == 0:
        return BoundOp(INPLACE_UNARY[mode], (0,), 0)
    if mode not in INPLACE_BINARY or len(node.inputs) != 2:
        return None
    ufunc, act_name = INPLACE_BINARY[mode]
    act = INPLACE_UNARY[act_name]
    if target == 0 or (target == 1 and mode in _SYMMETRIC):
        other = 1 - target

        def inplace(*xs: np.ndarray) -> np.ndarray:
            return act(ufunc(xs[target], xs[other], out=xs[target]))

        return BoundOp(inplace, (0, 1), target)
    if act_name == "IDENTITY":
        return None
    return BoundOp(lambda a, b: act(ufunc(a, b)), (0, 1))


_BINDERS: dict[str, Callable[[NumpyPlanBackend, BindSite], BoundOp | None]] = {
    "ConvolutionForward": _conv_bind, "ConvBiasForward": _conv_bind,
    "PoolingForward": _pool_bind, "Elemwise": _elemwise_bind,
}

__all__ = ["INPLACE_BINARY", "INPLACE_UNARY", "NumpyPlanBackend", "Scratch"]
