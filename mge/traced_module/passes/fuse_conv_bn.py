"""FuseConvBn: fold an inference-mode BatchNorm into the convolution that feeds it.

Handles ``Conv2d`` followed by ``BatchNorm2d`` modules, ``F.conv2d`` followed by
``F.batch_norm`` and the fused builtin modules ``ConvBn2d``/``ConvBnRelu2d``:
``w' = w * g / sqrt(var + eps)`` per output channel and
``b' = (b - mean) * g / sqrt(var + eps) + beta``
(:func:`mge.graph.folding.fold_bn_into_conv`, the arithmetic the graph passes use).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ... import functional as F
from ... import module as M
from ...graph.folding import fold_bn_into_conv
from ...graph.rewrite import Pat, Rule, RuleSet
from ..node import ModuleNode, Node
from .conv_weights import bind, functional_conv, set_functional_conv, set_module, to_numpy
from .conv_weights import with_weights as conv_with_weights
from .registry import register_pass
from .view import (
    TracedGraphView,
    attr_value,
    call_count,
    is_function,
    is_module,
    module_call,
    rewrite,
)

logger = logging.getLogger(__name__)


def _bn_foldable(bn: M.BatchNorm2d) -> bool:
    return not bn.training and bn.running_mean is not None


def _fused_conv(conv: M.Conv2d, bn: M.BatchNorm2d, cls: type = M.Conv2d) -> M.Conv2d:
    """A new ``cls`` module with ``conv``'s geometry and the BN-folded weight and bias."""
    w, b = fold_bn_into_conv(conv.weight.numpy(), to_numpy(conv.bias), bn.running_mean.numpy(),
                             bn.running_var.numpy(), bn.eps, to_numpy(bn.weight),
                             to_numpy(bn.bias))
    return conv_with_weights(conv, w, b, cls)


def _fold_module_pair(root_module: Any, view: TracedGraphView, root: Node, bn: ModuleNode,
                      src: Node) -> bool:
    conv_expr = src.expr
    conv = conv_expr.inputs[0].owner
    if not _bn_foldable(bn.owner):
        return False
    if call_count(root_module, conv) != 1:
        logger.info("FuseConvBn: %s is called more than once, not fused", conv_expr)
        return False
    set_module(conv_expr.inputs[0], _fused_conv(conv, bn.owner))
    return view.replace(root, src)


def _fold_module_after_function(view: TracedGraphView, root: Node, bn: ModuleNode,
                                src: Node) -> bool:
    """A BatchNorm2d module after ``F.conv2d`` with constant weights (a Conv2d subclass
    traced into its forward)."""
    conv = functional_conv(src.expr)
    module = bn.owner
    if conv is None or not _bn_foldable(module):
        return False
    bound, weight, bias = conv
    w, b = fold_bn_into_conv(weight, bias, module.running_mean.numpy(),
                             module.running_var.numpy(), module.eps, to_numpy(module.weight),
                             to_numpy(module.bias))
    new = set_functional_conv(view.graph, src.expr, bound, w, b, "fused")
    return view.replace(root, new)


def _fold_fused_module(view: TracedGraphView, root: Node, module: ModuleNode) -> bool:
    fused = module.owner
    if not _bn_foldable(fused.bn):
        return False
    cls = M.ConvRelu2d if isinstance(fused, M.ConvBnRelu2d) else M.Conv2d
    set_module(module, _fused_conv(fused.conv, fused.bn, cls))
    return True


def _bn_stats(bn: dict[str, Any]) -> tuple[np.ndarray, ...] | None:
    """``(mean, var, gamma, beta)`` of an inference ``F.batch_norm`` call whose statistics
    and affine params are constants or attributes; None otherwise."""
    if bn["training"]:
        return None
    stats = [attr_value(bn[k]) for k in ("running_mean", "running_var")]
    affine = [attr_value(bn[k]) if bn[k] is not None else None for k in ("weight", "bias")]
    if any(v is None for v in stats) \
            or any(a is None and bn[k] is not None for a, k in zip(affine, ("weight", "bias"))):
        return None
    return stats[0].numpy(), stats[1].numpy(), to_numpy(affine[0]), to_numpy(affine[1])


def _fold_function_pair(root_module: Any, view: TracedGraphView, root: Node) -> bool:
    """``F.batch_norm`` after ``F.conv2d`` or after a ``Conv2d`` module call (a BatchNorm2d
    subclass traced into its forward)."""
    bn = bind(F.batch_norm, root.expr).arguments
    src = bn["inp"]
    conv_expr = getattr(src, "expr", None)
    stats = _bn_stats(bn)
    if stats is None or conv_expr is None or view.sole_reader(src) is not root.expr:
        return False
    mean, var, gamma, beta = stats
    module = module_call(conv_expr, M.Conv2d)
    if module is not None:
        if call_count(root_module, module) != 1:
            return False
        w, b = fold_bn_into_conv(module.weight.numpy(), to_numpy(module.bias), mean, var,
                                 bn["eps"], gamma, beta)
        set_module(conv_expr.inputs[0], conv_with_weights(module, w, b, type(module)))
        return view.replace(root, src)
    conv = functional_conv(conv_expr)
    if conv is None:
        return False
    bound, weight, bias = conv
    w, b = fold_bn_into_conv(weight, bias, mean, var, bn["eps"], gamma, beta)
    new = set_functional_conv(view.graph, conv_expr, bound, w, b, "fused")
    return view.replace(root, new)


def _rules(root_module: Any) -> RuleSet:
    return RuleSet([
        Rule("BatchNorm2d(Conv2d(x)) -> Conv2d'(x)", Pat(is_module(M.BatchNorm2d), inputs=(
            Pat.var("bn"), Pat(is_module(M.Conv2d), name="src", sole=True))),
            lambda view, root, bn, src: _fold_module_pair(root_module, view, root, bn, src)),
        Rule("BatchNorm2d(F.conv2d(x)) -> F.conv2d'(x)", Pat(is_module(M.BatchNorm2d), inputs=(
            Pat.var("bn"), Pat(is_function(F.conv2d), name="src", sole=True))),
            _fold_module_after_function),
        Rule("F.batch_norm(conv(x)) -> conv'(x)", Pat(is_function(F.batch_norm)),
             lambda view, root: _fold_function_pair(root_module, view, root)),
        Rule("ConvBn2d -> Conv2d", Pat(is_module(M.ConvBn2d, M.ConvBnRelu2d), inputs=(
            Pat.var("module"), Pat.var())), _fold_fused_module),
    ])


@register_pass("FuseConvBn")
def fuse_conv_bn(module: Any) -> bool:
    """Fold every foldable conv+BN pair in ``module`` (in place); True if anything changed."""
    return rewrite(module, _rules(module))
