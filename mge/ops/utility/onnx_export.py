"""ONNX export rules of ``AssertEqual`` and ``VirtualDep``: ONNX has no assertion op, so
they refuse.

Example:
    >>> AssertEqual.onnx_rule                                    # doctest: +SKIP
    <function _assert_equal ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import Unsupported, onnx_rule
from . import AssertEqual, VirtualDep

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode


@onnx_rule(AssertEqual)
def _assert_equal(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    raise Unsupported("ONNX has no assertion op; export the graph without its test-case "
                      "checks (AssertEqual)")


@onnx_rule(VirtualDep)
def _virtual_dep(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    raise Unsupported("the graph checks values read in Python while tracing (VirtualDep "
                      "on AssertEqual guards); ONNX cannot express the check and the file "
                      "would hold the traced values: export a graph that reads no x.shape "
                      "value in Python")
