"""BackwardFoldScale: fold ``conv(x) * c`` (scalar or per-channel constant) into the conv."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import functional as F
from ... import module as M
from ..expr import CallFunction
from ..graph import InternalGraph
from .arith import as_const_binary
from .fuse_conv_bn import _bind, _call_count, _np, _set_module, with_weights
from .optimization import register_pass
from .utils import (
    all_graphs,
    attr_value,
    drop_output,
    function_call,
    module_call,
    new_constant,
    replace_expr,
    single_user,
)


def _channel_scale(value: np.ndarray, oc: int) -> np.ndarray | None:
    """The scale as ``(oc,)`` if it is a scalar or a ``(1, oc, 1, 1)``-broadcastable constant."""
    if value.size == 1:
        return np.full(oc, float(value.reshape(())), np.float32)
    shape = (1,) * (4 - value.ndim) + tuple(value.shape)
    if len(shape) == 4 and shape[0] == shape[2] == shape[3] == 1 and shape[1] == oc:
        return value.reshape(oc).astype(np.float32)
    return None


def _scaled(weight: np.ndarray, bias: np.ndarray | None,
            scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    oc = scale.shape[0]
    shape = (weight.shape[0], weight.shape[1], 1, 1, 1) if weight.ndim == 5 else (oc, 1, 1, 1)
    b = bias.reshape(oc) if bias is not None else np.zeros(oc, np.float32)
    return (weight * scale.reshape(shape)).astype(weight.dtype), (b * scale).reshape(1, oc, 1, 1)


def _fold(root: Any, graph: InternalGraph, expr: Any) -> bool:
    match = as_const_binary(expr)
    if match is None or match[0] != "mul":
        return False
    _, src, value = match
    producer = src.expr
    if producer is None or not single_user(src, graph):
        return False
    conv = module_call(producer, M.Conv2d)
    if conv is not None and type(conv) is M.Conv2d and _call_count(root, conv) == 1:
        scale = _channel_scale(value, conv.out_channels)
        if scale is None:
            return False
        w, b = _scaled(conv.weight.numpy(), _np(conv.bias), scale)
        _set_module(graph, producer.inputs[0], with_weights(conv, w, b))
    elif function_call(producer, F.conv2d):
        bound = _bind(F.conv2d, producer)
        weight = attr_value(bound.arguments["weight"])
        bias_node = bound.arguments["bias"]
        bias = attr_value(bias_node) if bias_node is not None else None
        if weight is None or (bias_node is not None and bias is None):
            return False
        w_np = weight.numpy()
        oc = w_np.shape[0] * (w_np.shape[1] if w_np.ndim == 5 else 1)
        scale = _channel_scale(value, oc)
        if scale is None:
            return False
        w, b = _scaled(w_np, _np(bias), scale)
        bound.arguments["weight"] = new_constant(graph, w, producer, "scaled_weight")
        bound.arguments["bias"] = new_constant(graph, b, producer, "scaled_bias")
        replace_expr(graph, producer, CallFunction(F.conv2d, bound.args, bound.kwargs))
    else:
        return False
    drop_output(graph, expr.outputs[0], src)
    return True


@register_pass("BackwardFoldScale")
def backward_fold_scale(module: Any) -> bool:
    """Fold constant scales that follow convolutions into their weights (in place)."""
    changed = False
    for graph in list(all_graphs(module)):
        progress = True
        while progress:
            progress = any(_fold(module, graph, e) for e in list(graph._exprs))
            changed |= progress
    return changed
