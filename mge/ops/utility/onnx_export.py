"""ONNX export rules of ``AssertEqual`` (ONNX has no assertion op, so it refuses),
``VirtualDep`` (its first input) and ``Copy`` (its input); ``Copy``'s batch rule.

Example:
    >>> AssertEqual.onnx_rule                                    # doctest: +SKIP
    <function _assert_equal ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..batching import aligned
from ..registry import Unsupported, batch_rule, onnx_rule
from . import AssertEqual, Copy, VirtualDep

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode


@onnx_rule(AssertEqual)
def _assert_equal(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    raise Unsupported("ONNX has no assertion op; export the graph without its test-case "
                      "checks or trace-time guards (AssertEqual)")


@onnx_rule(VirtualDep)
def _virtual_dep(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    """Its first input (ONNX runs what the outputs need; a graph whose dependencies are
    ``AssertEqual`` guards is refused by their rule)."""
    return [xs[0]]


@onnx_rule(Copy)
def _copy(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    """Its input (ONNX values are immutable: a copy is the same value)."""
    return [xs[0]]


batch_rule(Copy)(aligned)
