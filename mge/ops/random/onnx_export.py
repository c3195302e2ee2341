"""ONNX export rules of the random ops: they refuse. ONNX's ``RandomUniform`` and
``RandomNormal`` draw from runtime generators whose streams and seeding differ from
MegEngine's, and ONNX has no gamma, beta, Poisson, permutation or shuffle op; a graph
that draws runs on the numpy or torch plans (the onnxruntime plan falls back, warned).

Example:
    >>> UniformRNG.onnx_rule                                    # doctest: +SKIP
    <function _random ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import Unsupported, onnx_rule
from .numpy_kernels import ALL

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode


@onnx_rule(*ALL)
def _random(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    raise Unsupported(f"{node.op.type_name}: random ops are not exported to ONNX (its "
                      "random ops draw differently and it has no gamma, beta, Poisson, "
                      "permutation or shuffle)")
