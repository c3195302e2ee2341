"""BackwardFoldScale: fold ``conv(x) * c`` (scalar or per-channel constant) into the conv."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import module as M
from ..graph import InternalGraph
from .arith import as_const_binary
from .conv_weights import (
    call_count,
    functional_conv,
    out_channels,
    per_channel,
    set_functional_conv,
    set_module,
    to_numpy,
    with_weights,
)
from .optimization import register_pass
from .utils import drop_output, module_call, rewrite_until_stable, single_user


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
    b = bias.reshape(oc) if bias is not None else np.zeros(oc, np.float32)
    return per_channel(weight, scale), (b * scale).reshape(1, oc, 1, 1)


def _fold(root: Any, graph: InternalGraph, expr: Any) -> bool:
    match = as_const_binary(expr)
    if match is None or match[0] != "mul":
        return False
    _, src, value = match
    producer = src.expr
    if producer is None or not single_user(src, graph):
        return False
    conv = module_call(producer, M.Conv2d)
    functional = functional_conv(producer)
    if conv is not None and type(conv) is M.Conv2d and call_count(root, conv) == 1:
        scale = _channel_scale(value, conv.out_channels)
        if scale is None:
            return False
        w, b = _scaled(conv.weight.numpy(), to_numpy(conv.bias), scale)
        set_module(graph, producer.inputs[0], with_weights(conv, w, b))
    elif functional is not None:
        bound, weight, bias = functional
        scale = _channel_scale(value, out_channels(weight))
        if scale is None:
            return False
        set_functional_conv(graph, producer, bound, *_scaled(weight, bias, scale), "scaled")
    else:
        return False
    drop_output(graph, expr.outputs[0], src)
    return True


@register_pass("BackwardFoldScale")
def backward_fold_scale(module: Any) -> bool:
    """Fold constant scales that follow convolutions into their weights (in place)."""
    return rewrite_until_stable(module, lambda graph, expr: _fold(module, graph, expr))
