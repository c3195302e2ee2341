"""Reading and rewriting convolution weights in a graph (shared by the folding passes).

A conv appears either as a ``Conv2d`` module call or as ``F.conv2d`` with constant (or
attribute) weight and bias; both are rewritten the same way: new per-output-channel
weights, a ``(1, oc, 1, 1)`` bias (the arithmetic is :mod:`mge.graph.folding`'s).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ... import functional as F
from ... import module as M
from ...tensor import Parameter, Tensor
from ..expr import CallFunction, Constant, get_attr_path
from ..graph import InternalGraph
from ..node import ModuleNode, Node
from .view import attr_value, is_function


def to_numpy(t: Any) -> np.ndarray | None:
    return None if t is None else t.numpy()


def bind(func: Any, expr: CallFunction) -> inspect.BoundArguments:
    """``expr``'s arguments bound to ``func``'s parameters (defaults applied)."""
    bound = inspect.signature(func).bind(*expr.args, **expr.kwargs)
    bound.apply_defaults()
    return bound


def functional_conv(expr: Any) -> tuple[inspect.BoundArguments, np.ndarray,
                                        np.ndarray | None] | None:
    """``(arguments, weight, bias)`` of an ``F.conv2d`` expr whose weight and bias are
    constants or attributes; None otherwise."""
    if not is_function(F.conv2d)(expr):
        return None
    bound = bind(F.conv2d, expr)
    weight = attr_value(bound.arguments["weight"])
    bias_node = bound.arguments["bias"]
    bias = attr_value(bias_node) if bias_node is not None else None
    if weight is None or (bias_node is not None and bias is None):
        return None
    return bound, weight.numpy(), to_numpy(bias)


def set_functional_conv(graph: InternalGraph, expr: CallFunction,
                        bound: inspect.BoundArguments, weight: np.ndarray,
                        bias: np.ndarray, name: str) -> Node:
    """Record ``F.conv2d`` with new constant ``weight`` and ``bias`` after ``expr`` and let
    the users of ``expr``'s output read it; returns the new output."""
    old = expr.outputs[0]
    with graph.insert_exprs(expr):
        bound.arguments["weight"] = Constant.make(Tensor(weight), f"{name}_weight")
        bound.arguments["bias"] = Constant.make(Tensor(bias), f"{name}_bias")
        new = F.conv2d(*bound.args, **bound.kwargs)
    graph.replace_node({old: new})
    graph.compile()
    new.name = old.name
    return new


def with_weights(conv: M.Conv2d, weight: np.ndarray, bias: np.ndarray,
                 cls: type = M.Conv2d) -> M.Conv2d:
    """A copy of ``conv`` (as ``cls``) holding ``weight`` and ``bias``."""
    new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
              conv.dilation, conv.groups, bias=True, conv_mode=conv.conv_mode,
              compute_mode=conv.compute_mode)
    new.weight = Parameter(weight)
    new.bias = Parameter(bias)
    new.training = conv.training
    return new


def set_module(mnode: ModuleNode, module: Any) -> None:
    """Rebind the attribute a ModuleNode reads (``getattr(parent, path)``) to ``module``."""
    expr = mnode.expr
    parent = expr.inputs[0].owner
    *head, last = expr.name.split(".")
    holder = get_attr_path(parent, ".".join(head)) if head else parent
    if last.isdigit() and not hasattr(holder, last):
        holder[int(last)] = module
    else:
        setattr(holder, last, module)
    mnode.module_type = type(module)
