"""FuseConvBn: fold an inference-mode BatchNorm into the convolution that feeds it.

Handles ``Conv2d`` followed by ``BatchNorm2d`` modules, ``F.conv2d`` followed by
``F.batch_norm`` and the fused builtin modules ``ConvBn2d``/``ConvBnRelu2d``:
``w' = w * g / sqrt(var + eps)`` per output channel and
``b' = (b - mean) * g / sqrt(var + eps) + beta``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ... import functional as F
from ... import module as M
from ..graph import InternalGraph
from .conv_weights import (
    bind,
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
from .utils import (
    attr_value,
    drop_output,
    function_call,
    module_call,
    rewrite_until_stable,
    single_user,
)

logger = logging.getLogger(__name__)


def fold_bn(weight: np.ndarray, bias: np.ndarray | None, mean: np.ndarray, var: np.ndarray,
            gamma: np.ndarray | None, beta: np.ndarray | None,
            eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Conv weight (dense ``[oc,ic,kh,kw]`` or group ``[g,oc/g,ic/g,kh,kw]``) and bias with BN."""
    oc = out_channels(weight)
    scale = 1.0 / np.sqrt(var.reshape(oc).astype(np.float64) + eps)
    if gamma is not None:
        scale = scale * gamma.reshape(oc)
    b0 = bias.reshape(oc) if bias is not None else 0.0
    new_b = (b0 - mean.reshape(oc)) * scale + (beta.reshape(oc) if beta is not None else 0.0)
    return per_channel(weight, scale), new_b.reshape(1, oc, 1, 1).astype(np.float32)


def _bn_foldable(bn: M.BatchNorm2d) -> bool:
    return not bn.training and bn.running_mean is not None


def _fused_conv(conv: M.Conv2d, bn: M.BatchNorm2d, cls: type = M.Conv2d) -> M.Conv2d:
    """A new ``cls`` module with ``conv``'s geometry and the BN-folded weight and bias."""
    w, b = fold_bn(conv.weight.numpy(), to_numpy(conv.bias), bn.running_mean.numpy(),
                   bn.running_var.numpy(), to_numpy(bn.weight), to_numpy(bn.bias), bn.eps)
    return with_weights(conv, w, b, cls)


def _fold_module_pair(root: Any, graph: InternalGraph, bn_expr: Any) -> bool:
    bn = module_call(bn_expr, M.BatchNorm2d)
    src = bn_expr.inputs[1] if len(bn_expr.inputs) > 1 else None
    conv_expr = src.expr if src is not None else None
    conv = module_call(conv_expr, M.Conv2d) if conv_expr is not None else None
    if bn is None or conv is None or not single_user(src, graph) or not _bn_foldable(bn):
        return False
    if call_count(root, conv) != 1:
        logger.info("FuseConvBn: %s is called more than once, not fused", conv_expr)
        return False
    set_module(graph, conv_expr.inputs[0], _fused_conv(conv, bn))
    drop_output(graph, bn_expr.outputs[0], src)
    return True


def _fold_fused_module(graph: InternalGraph, expr: Any) -> bool:
    fused = module_call(expr, (M.ConvBn2d, M.ConvBnRelu2d))
    if fused is None or not _bn_foldable(fused.bn):
        return False
    cls = M.ConvRelu2d if isinstance(fused, M.ConvBnRelu2d) else M.Conv2d
    conv = _fused_conv(fused.conv, fused.bn, cls)
    set_module(graph, expr.inputs[0], conv)
    return True


def _fold_function_pair(graph: InternalGraph, bn_expr: Any) -> bool:
    if not function_call(bn_expr, F.batch_norm):
        return False
    bn = bind(F.batch_norm, bn_expr).arguments
    src = bn["inp"]
    conv_expr = getattr(src, "expr", None)
    conv = functional_conv(conv_expr)
    if conv is None or not single_user(src, graph) or bn["training"]:
        return False
    bound, weight, bias = conv
    stats = [attr_value(bn[k]) for k in ("running_mean", "running_var")]
    affine = [attr_value(bn[k]) if bn[k] is not None else None for k in ("weight", "bias")]
    if any(v is None for v in stats) \
            or any(a is None and bn[k] is not None for a, k in zip(affine, ("weight", "bias"))):
        return False
    w, b = fold_bn(weight, bias, stats[0].numpy(), stats[1].numpy(),
                   to_numpy(affine[0]), to_numpy(affine[1]), bn["eps"])
    set_functional_conv(graph, conv_expr, bound, w, b, "fused")
    drop_output(graph, bn_expr.outputs[0], src)
    return True


@register_pass("FuseConvBn")
def fuse_conv_bn(module: Any) -> bool:
    """Fold every foldable conv+BN pair in ``module`` (in place); True if anything changed."""
    return rewrite_until_stable(
        module, lambda graph, expr: _fold_module_pair(module, graph, expr)
        or _fold_function_pair(graph, expr) or _fold_fused_module(graph, expr))
