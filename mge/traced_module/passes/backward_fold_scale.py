"""BackwardFoldScale: fold ``conv(x) * c`` (scalar or per-channel constant) into the conv.

The per-channel test and the weight scaling are :mod:`mge.graph.folding`'s, as in the
graph pass ``fold_conv_scale``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import module as M
from ...graph.folding import channel_scale, out_channels, scale_conv_weight
from ...graph.rewrite import Pat, Rule, RuleSet
from ..node import Node
from .arith import as_const_binary, is_const_binary
from .conv_weights import functional_conv, set_functional_conv, set_module, to_numpy, with_weights
from .registry import register_pass
from .view import TracedGraphView, call_count, module_call, rewrite


def _scaled(weight: np.ndarray, bias: np.ndarray | None,
            scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The filter and ``(1, oc, 1, 1)`` bias of ``conv(x, weight) + bias`` times ``scale``."""
    oc = scale.shape[0]
    b = np.zeros(oc) if bias is None else bias.reshape(oc).astype(np.float64)
    return (scale_conv_weight(weight, scale).astype(weight.dtype),
            (b * scale).reshape(1, oc, 1, 1).astype(weight.dtype))


def _fold(root_module: Any, view: TracedGraphView, root: Node) -> bool:
    _, src, value = as_const_binary(root.expr)
    producer = src.expr
    if producer is None or view.sole_reader(src) is not root.expr:
        return False
    conv = module_call(producer, M.Conv2d)
    if conv is not None and type(conv) is M.Conv2d and call_count(root_module, conv) == 1:
        scale = channel_scale(value, (1, conv.out_channels, 1, 1))
        if scale is None:
            return False
        w, b = _scaled(conv.weight.numpy(), to_numpy(conv.bias), scale)
        set_module(producer.inputs[0], with_weights(conv, w, b))
        return view.replace(root, src)
    functional = functional_conv(producer)
    if functional is None:
        return False
    bound, weight, bias = functional
    scale = channel_scale(value, (1, out_channels(weight), 1, 1))
    if scale is None:
        return False
    new = set_functional_conv(view.graph, producer, bound, *_scaled(weight, bias, scale),
                              "scaled")
    return view.replace(root, new)


@register_pass("BackwardFoldScale")
def backward_fold_scale(module: Any) -> bool:
    """Fold constant scales that follow convolutions into their weights (in place)."""
    rules = RuleSet([Rule("conv(x) * c -> conv'(x)", Pat(is_const_binary("mul")),
                          lambda view, root: _fold(module, view, root))])
    return rewrite(module, rules)
