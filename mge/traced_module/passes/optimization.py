"""``tm.optimize``: run registered passes on a copy of a TracedModule, in MegEngine's order.

Example:
    >>> fused = tm.optimize(traced, ["FuseConvBn", "BackwardFoldScale"])  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

PassFn = Callable[[Any], bool]
PASSES: dict[str, PassFn] = {}
_DEFAULT_ORDER = ["FuseConvBn", "FuseAddMul"]


def register_pass(name: str) -> Callable[[PassFn], PassFn]:
    """Register ``fn(traced_module) -> changed`` under ``name``."""

    def deco(fn: PassFn) -> PassFn:
        PASSES[name] = fn
        return fn

    return deco


def optimize(module: Any, enabled_pass: list[str] | str = ("FuseConvBn",)) -> Any:
    """An optimized copy of ``module`` for inference; the input is left untouched.

    Passes: FuseConvBn (fold BatchNorm into the conv before it), FuseAddMul (fold chains of
    constant add/mul), BackwardFoldScale (fold a constant scale after a conv into its
    weights; enables FuseConvBn), plus the const passes AttrToConstant, FlodConstant and
    FixInputShape. Order as MegEngine: FuseConvBn, FuseAddMul, then BackwardFoldScale and
    FuseAddMul again when BackwardFoldScale is enabled; const passes run first.

    Raises:
        ValueError: naming an unknown pass.
    """
    from . import backward_fold_scale, const, fuse_add_mul, fuse_conv_bn  # noqa: F401

    enabled = [enabled_pass] if isinstance(enabled_pass, str) else list(enabled_pass)
    unknown = [p for p in enabled if p not in PASSES]
    if unknown:
        raise ValueError(f"unknown passes {unknown}; registered: {sorted(PASSES)}")
    order = [p for p in ("AttrToConstant", "FixInputShape", "FlodConstant") if p in enabled]
    order += _DEFAULT_ORDER
    if "BackwardFoldScale" in enabled:
        if "FuseConvBn" not in enabled:
            logger.warning("BackwardFoldScale requires FuseConvBn, FuseConvBn will be enabled.")
            enabled.append("FuseConvBn")
        order += ["BackwardFoldScale", "FuseAddMul"]
    module = copy.deepcopy(module)
    for name in order:
        if name in enabled:
            PASSES[name](module)
    return module
