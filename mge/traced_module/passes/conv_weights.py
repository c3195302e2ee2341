"""Reading and rewriting convolution weights in a graph (shared by the folding passes).

A conv appears either as a ``Conv2d`` module call or as ``F.conv2d`` with constant (or
attribute) weight and bias; both are rewritten the same way: new per-output-channel
weights, a ``(1, oc, 1, 1)`` bias.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ... import functional as F
from ... import module as M
from ...tensor import Parameter
from ..expr import CallFunction, get_attr_path
from ..graph import InternalGraph
from .utils import all_graphs, attr_value, module_call, new_constant, replace_expr


def out_channels(weight: np.ndarray) -> int:
    """Output channels of a dense ``[oc,ic,kh,kw]`` or group ``[g,oc/g,ic/g,kh,kw]`` weight."""
    return weight.shape[0] * (weight.shape[1] if weight.ndim == 5 else 1)


def per_channel(weight: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``weight`` with output channel ``k`` multiplied by ``scale[k]``."""
    shape = (weight.shape[0], weight.shape[1], 1, 1, 1) if weight.ndim == 5 else (-1, 1, 1, 1)
    return (weight * scale.reshape(shape)).astype(weight.dtype)


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
    if not (isinstance(expr, CallFunction) and expr.func is F.conv2d):
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
                        bias: np.ndarray, name: str) -> None:
    """Replace an ``F.conv2d`` expr by one using new constant ``weight`` and ``bias``."""
    bound.arguments["weight"] = new_constant(graph, weight, expr, f"{name}_weight")
    bound.arguments["bias"] = new_constant(graph, bias, expr, f"{name}_bias")
    replace_expr(graph, expr, CallFunction(F.conv2d, bound.args, bound.kwargs))


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


def set_module(graph: InternalGraph, mnode: Any, module: Any) -> None:
    """Rebind the attribute a ModuleNode reads to ``module``."""
    expr = mnode.expr
    parent = graph._resolve_module(expr.inputs[0])
    *head, last = expr.name.split(".")
    holder = get_attr_path(parent, ".".join(head)) if head else parent
    if last.isdigit() and not hasattr(holder, last):
        holder[int(last)] = module
    else:
        setattr(holder, last, module)
    mnode.module_type = type(module)


def call_count(root: Any, module: Any) -> int:
    """How many module-call exprs in ``root``'s graphs call ``module``."""
    return sum(1 for g in all_graphs(root) for e in g._exprs
               if module_call(e, M.Module) is module)
