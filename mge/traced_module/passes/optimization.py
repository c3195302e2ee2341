"""``tm.optimize``: run registered passes on a copy of a TracedModule, in MegEngine's order.

Example:
    >>> fused = tm.optimize(traced, ["FuseConvBn", "BackwardFoldScale"])  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from . import backward_fold_scale, const, fuse_add_mul, fuse_conv_bn  # noqa: F401  (register)
from .registry import PASSES

logger = logging.getLogger(__name__)

_CONST_ORDER = ["AttrToConstant", "FixInputShape", "FlodConstant"]
_DEFAULT_ORDER = ["FuseConvBn", "FuseAddMul"]


def optimize(module: Any, enabled_pass: list[str] | str = ("FuseConvBn",)) -> Any:
    """An optimized copy of ``module`` for inference; the input is left untouched.

    Passes: FuseConvBn (fold BatchNorm into the conv before it), FuseAddMul (fold chains of
    constant add/mul), BackwardFoldScale (fold a constant scale after a conv into its
    weights; enables FuseConvBn), plus the const passes AttrToConstant, FixInputShape
    (``GetVarShape`` of a traced shape becomes a constant) and FlodConstant. Order as
    MegEngine: FuseConvBn, FuseAddMul, then BackwardFoldScale and FuseAddMul again when
    BackwardFoldScale is enabled. MegEngine registers the const passes but never runs
    them from ``optimize``; mge runs the enabled ones first. Every graph is linted after
    each pass.

    Raises:
        ValueError: naming an unknown pass.
    """
    enabled = [enabled_pass] if isinstance(enabled_pass, str) else list(enabled_pass)
    unknown = [p for p in enabled if p not in PASSES]
    if unknown:
        raise ValueError(f"unknown passes {unknown}; registered: {list(PASSES)}")
    order = _CONST_ORDER + _DEFAULT_ORDER
    if "BackwardFoldScale" in enabled:
        if "FuseConvBn" not in enabled:
            logger.warning("BackwardFoldScale requires FuseConvBn, FuseConvBn will be enabled.")
            enabled.append("FuseConvBn")
        order += ["BackwardFoldScale", "FuseAddMul"]
    module = copy.deepcopy(module)
    PASSES.run(module, [name for name in order if name in enabled], expand=False)
    return module
