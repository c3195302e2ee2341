"""BackwardFoldScale: fold constant scales into the convolutions before them.

First ``conv(x) * c`` (scalar or per-channel constant) folds into the conv (the
per-channel test and the weight scaling are :mod:`mge.graph.folding`'s, as in the graph
pass ``fold_conv_scale``). Then, as MegEngine's pass does, scalar multiplies further down
travel back through adds, ReLUs, reshapes, pooling... (:mod:`.scale_flow`): each such
multiply is removed, the constants added on the way are scaled, and the convs at the
start take the factor into their weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import functional as F
from ... import module as M
from ...graph.folding import channel_scale, out_channels, scale_conv_weight
from ...graph.rewrite import Pat, Rule, RuleSet
from ..expr import CallFunction, Expr
from ..graph import InternalGraph
from ..node import Node
from .arith import as_const_binary, is_const_binary
from .conv_weights import functional_conv, set_functional_conv, set_module, to_numpy, with_weights
from .registry import register_pass
from .scale_flow import constant_exprs, is_mul, scale_flow, split_const
from .view import TracedGraphView, all_graphs, call_count, module_call, rewrite


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


def _scale_conv(graph: InternalGraph, expr: Expr, factor: float) -> None:
    conv = module_call(expr, M.Conv2d)
    if conv is not None:
        w, b = _scaled(conv.weight.numpy(), to_numpy(conv.bias), np.full(conv.out_channels,
                                                                          factor))
        set_module(expr.inputs[0], with_weights(conv, w, b, type(conv)))
        return
    bound, weight, bias = functional_conv(expr)
    scale = np.full(out_channels(weight), factor)
    set_functional_conv(graph, expr, bound, *_scaled(weight, bias, scale), "scaled")


def _fold_flow(root_module: Any, graph: InternalGraph) -> bool:
    """Move the scalar factors :func:`scale_flow` finds into the convs."""
    factors, convs = scale_flow(graph, lambda m: call_count(root_module, m))
    fixed = constant_exprs(graph)
    for expr in list(graph._exprs):
        if id(expr) in convs:
            _scale_conv(graph, expr, convs[id(expr)])
        elif id(expr) in factors:
            out = expr.outputs[0]
            if isinstance(expr, CallFunction) and expr.func is F.neg:
                graph.replace_node({out: expr.inputs[0]})
            elif (split := split_const(expr, fixed)) is not None:
                x, const = split
                if is_mul(expr):
                    graph.replace_node({out: x})
                else:
                    with graph.insert_exprs():
                        new = x + const * factors[id(expr)]
                    graph.replace_node({out: new})
                    graph.compile()
                    new.name = out.name
                    continue
            else:
                continue
            graph.compile()
    return bool(convs)


@register_pass("BackwardFoldScale")
def backward_fold_scale(module: Any) -> bool:
    """Fold constant scales that follow convolutions into their weights (in place)."""
    rules = RuleSet([Rule("conv(x) * c -> conv'(x)", Pat(is_const_binary("mul")),
                          lambda view, root: _fold(module, view, root))])
    changed = rewrite(module, rules)
    for graph in list(all_graphs(module)):
        changed |= _fold_flow(module, graph)
    return changed
