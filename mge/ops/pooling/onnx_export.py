"""ONNX export rules of the pooling ops (NCHW or NHWC), and their dynamic-batch rules.

Example:
    >>> PoolingForward.onnx_rule                                 # doctest: +SKIP
    <function _pooling ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..batching import data_inputs
from ..conv.onnx_export import TO_NHWC, nchw, nchw_shape
from ..registry import batch_rule, onnx_rule
from . import AdaptivePoolingForward, PoolingForward

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode


def _pool(ctx: ExportContext, node: OpNode, x: Sym, op: PoolingForward) -> Sym:
    out = node.outputs[0]
    shape = nchw_shape(op, out.shape)
    xn = nchw(op, x)
    if op.covers_input(x.shape):
        onnx_op = "GlobalMaxPool" if op.mode == "MAX" else "GlobalAveragePool"
        y = xn.op(onnx_op, shape=shape)
    else:
        attrs: dict[str, Any] = {"kernel_shape": [op.window_h, op.window_w],
                                 "pads": [op.pad_h, op.pad_w] * 2,
                                 "strides": [op.stride_h, op.stride_w]}
        if op.mode != "MAX":
            attrs["count_include_pad"] = int(op.mode == "AVERAGE")
        y = xn.op("MaxPool" if op.mode == "MAX" else "AveragePool", shape=shape, **attrs)
    return y.transpose(TO_NHWC) if op.format == "NHWC" else y


@onnx_rule(PoolingForward)
def _pooling(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [_pool(ctx, node, xs[0], node.op)]


@onnx_rule(AdaptivePoolingForward)
def _adaptive_pooling(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    return [_pool(ctx, node, xs[0], node.op.as_pooling(node.inputs[0].shape))]


batch_rule(PoolingForward, AdaptivePoolingForward)(data_inputs(0))
