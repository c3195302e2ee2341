"""ONNX export rule of ``LAMBUpdate``: an optimizer step has no inference form, so it
refuses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import Unsupported, onnx_rule
from . import LAMBUpdate

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode


@onnx_rule(LAMBUpdate)
def _lamb_update(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    raise Unsupported("LAMBUpdate is an optimizer step (training): ONNX models do not hold it")
