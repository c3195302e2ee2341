"""Graph passes, registered by name with prerequisites, and ``optimize_for_inference``.

A pass is a function ``graph -> changed`` that rewrites a :class:`~mge.graph.Graph` in
place (one pass per module in this package), most of them a table of rules for the
rewrite engine (:mod:`mge.graph.rewrite`). :func:`run_passes` runs passes and their
prerequisites in order and lints the graph after each one (:mod:`.registry`).

:func:`optimize_for_inference` is MegEngine's ``G.optimize_for_inference`` on mge graphs:
BatchNorm to elementwise, constant folding, scale folding into convolutions, arithmetic
fusion (always), then per option: float16 (``enable_io16xc32``/``enable_ioc16``),
conv+bias+nonlinearity fusion, conv_bias+z fusion, and the layout options, which are
recorded in the metadata bits exactly as MegEngine records them.

Example:
    >>> new_graph, bits = optimize_for_inference(graph, enable_fuse_conv_bias_nonlinearity=True)
    ... # doctest: +SKIP
    >>> bits                                              # doctest: +SKIP
    68
"""

from __future__ import annotations

import warnings
from typing import Any

from ..ir import Graph
from . import (  # noqa: F401  (each module registers its pass)
    arith_fuse,
    arith_reorder,
    bn_to_elemwise,
    float16,
    fold_constants,
    fold_conv_scale,
    fuse_conv_bias,
    fuse_conv_bias_z,
    remove_noop,
)
from .registry import PASSES, register_pass, run_passes

# ------------------------------------------------------------------ optimize_for_inference
#: layout options, in the order MegEngine's Python layer reads them (the last set wins)
LAYOUT_OPTIONS: dict[str, int] = {
    "enable_hwcd4": 2, "enable_nchw4": 1, "enable_nchw88": 3, "enable_nchw32": 6,
    "enable_nchw44": 4, "enable_nchw44_dot": 5, "enable_chwn4": 7, "enable_nchw64": 8,
}
#: other options and their ``GraphOptimizeOptions.serialize()`` bit
FLAG_OPTIONS: dict[str, int] = {
    "enable_io16xc32": 0, "enable_ioc16": 1, "enable_fuse_conv_bias_nonlinearity": 2,
    "enable_fuse_conv_bias_with_z": 3, "enable_fuse_preprocess": 5, "enable_fuse_grain": 6,
}
OPTION_NAMES: tuple[str, ...] = tuple(LAYOUT_OPTIONS) + tuple(FLAG_OPTIONS)
#: layouts whose MegEngine pass list also fuses ConvBias with z (NCHW4, NCHW32, CHWN4, NCHW64)
_Z_LAYOUTS = (1, 6, 7, 8)
#: what always runs, in order
BASE_PASSES = ("remove_noop", "bn_to_elemwise", "fold_constants", "arith_reorder",
               "fold_conv_scale", "fold_constants", "arith_fuse")


def serialize_options(**options: Any) -> int:
    """MegEngine's ``GraphOptimizeOptions.serialize()`` bits for ``enable_*`` options."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise ValueError(f"unknown options: {unknown}")
    options.setdefault("enable_fuse_grain", True)
    bits = 0
    for name, value in LAYOUT_OPTIONS.items():
        if options.get(name):
            bits = (bits & 0xFFFFFFFF) | value << 32
    for name, bit in FLAG_OPTIONS.items():
        if options.get(name):
            bits |= 1 << bit
    return bits


def optimize_for_inference(graph: Graph, **options: Any) -> tuple[Graph, int]:
    """Optimize a copy of ``graph`` for inference; returns it and the options' bits.

    Options are MegEngine's ``enable_*`` keywords (see ``trace.dump``); unknown ones
    raise ``ValueError``. Layout options (``enable_nchw44``...) and
    ``enable_fuse_preprocess`` are recorded in the bits but change no layouts: no mge
    backend gains from blocked layouts, and a warning says so.
    """
    bits = serialize_options(**options)
    g = graph.copy()
    names = list(BASE_PASSES)
    if options.get("enable_ioc16"):
        names.append("float16")
    elif options.get("enable_io16xc32"):
        names.append("float16_io")
    layout = bits >> 32
    if layout or options.get("enable_fuse_conv_bias_nonlinearity"):
        names.append("fuse_conv_bias")
    if options.get("enable_fuse_conv_bias_with_z") or layout in _Z_LAYOUTS:
        names += ["fuse_conv_bias", "fuse_conv_bias_z"]
    PASSES.run(g, names, expand=False)  # in this order (repeats allowed), linting after each
    skipped = [k for k in LAYOUT_OPTIONS if options.get(k)]
    skipped += ["enable_fuse_preprocess"] if options.get("enable_fuse_preprocess") else []
    if skipped:
        warnings.warn(
            f"{', '.join(skipped)}: recorded in the model's metadata like MegEngine does, "
            "but mge keeps the NCHW layout (no mge backend gains from blocked layouts "
            "or fused preprocessing)", stacklevel=2)
    return g, bits


__all__ = [
    "BASE_PASSES", "FLAG_OPTIONS", "LAYOUT_OPTIONS", "OPTION_NAMES", "PASSES",
    "optimize_for_inference", "register_pass", "run_passes", "serialize_options",
]
