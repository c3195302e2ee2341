"""Float ops inside quantized graphs, in the int8 ONNX lowerings, by their op homes' rules.

A quantized network keeps some ops in float: a classifier's ``MatrixMul`` after the last
dequantize, a ``SoftmaxForward`` after the logits, a float ``Padding`` or average pool.
Their ONNX forms are facts of their op homes (``mge/ops/<family>/onnx_export.py``, the
rules the float exporter runs); :class:`FloatBridge` runs such a rule inside a lowering
(:mod:`.int8_onnx`, :mod:`.int8_qdq`), writing into the lowering's own node and
initializer lists: an op whose inputs and outputs are all float (no quantized dtype) and
that the lowering has no form of its own for (:meth:`FloatBridge.takes`). The lowering's
names are the rule's :class:`~mge.convert.onnx.exporter.sym.Sym` names, its fresh names
the context's; a constant input keeps the initializer the lowering wrote for it. For a
free batch size (the lowering's ``batch``: each var's batch dim, the dynamic-batch QDQ
export) the rules see the batch axes as in a float ``dynamic_batch`` export.

Example:
    >>> bridge = FloatBridge(low, 21, OWN_FLOAT_FORMS)          # doctest: +SKIP
    >>> if bridge.takes(softmax_node):                          # doctest: +SKIP
    ...     names[out.id], = bridge.lower(softmax_node, names)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from ..dtype import is_quantize
from ..graph.ir import OpNode, VarNode
from ..ops.registry import Unsupported
from .int8_lowering import Int8Unsupported, describe

#: whether a lowering writes a float node itself: ``own(lowering, node)``
OwnForm = Callable[[Any, OpNode], bool]


@cache
def _context_class() -> type:
    """The float exporter's context over a lowering, whose fresh names are the lowering's.
    The exporter sits above the runtime (its QDQ export imports :mod:`.int8_onnx`): it is
    imported here, at the first bridged op, as :mod:`.plan_onnx` imports it."""
    from ..convert.onnx.exporter.graph import ExportContext  # and every op family's rules
    from ..convert.onnx.exporter.sym import Sym

    class LoweringContext(ExportContext):
        sym_type = Sym  # the values its rules take

        def __init__(self, low: Any, opset: int) -> None:
            super().__init__(opset, {}, low.batch or None)  # a free batch: its dims
            self.low = low

        def unique(self, hint: str) -> str:
            name = self.low.fresh(hint)
            self._names.add(name)
            return name

    return LoweringContext


class FloatBridge:
    """Lowers float ops by their homes' ONNX rules into the lowering ``low`` (an
    :class:`.int8_lowering._Lowering`: ``nodes``, ``inits``, ``fresh``, ``users``,
    ``outputs``, ``batch``) at ``opset``; ``own_float_forms``: by op class, whether the
    lowering writes such a float node itself, faster or on codes (``None``: always).
    """

    def __init__(self, low: Any, opset: int,
                 own_float_forms: Mapping[type, OwnForm | None]) -> None:
        self.low = low
        self.opset = opset
        self.own_float_forms = own_float_forms
        self._ctx: Any = None  # made at the first bridged op
        self._names: dict[int, str] = {}
        self._written: set[str] = set()  # the context's initializers already in low.inits

    def takes(self, node: OpNode) -> bool:
        """Whether ``node`` goes to its op home's export rule: all its vars are float
        (none quantized) and the lowering has no form of its own for it."""
        if any(is_quantize(v.dtype) for v in (*node.inputs, *node.outputs)):
            return False
        if type(node.op) not in self.own_float_forms:
            return True
        own = self.own_float_forms[type(node.op)]
        return own is not None and not own(self.low, node)

    @property
    def ctx(self) -> Any:
        """The export context (an ``ExportContext``) writing into the lowering."""
        if self._ctx is None:
            self._ctx = _context_class()(self.low, self.opset)
            self._ctx.read = set(self.low.users) | set(self.low.outputs)
            self._ctx.value_of = self.value_of
        return self._ctx

    def value_of(self, var: VarNode) -> Any:
        """The ``Sym`` of a float var lowered before (rules look through producers)."""
        if is_quantize(var.dtype) or var.id not in self._names:
            raise Int8Unsupported(f"{describe(var.owner)}: not a float value of the lowering")
        return self.sym(var, self._names[var.id])

    def sym(self, var: VarNode, name: str) -> Any:
        """``var`` as the lowering named it; a constant with its value for the rule."""
        if var.is_const:
            self.ctx.consts[var.id] = var.value
            tensor = next((t for t in self.low.inits if t.name == name), None)
            if tensor is not None and name not in self.ctx.initializers:  # the lowering's
                self.ctx.initializers[name] = tensor
                self._written.add(name)
        return self.ctx.sym_type(self.ctx, name, var.shape, var.dtype)

    def lower(self, node: OpNode, names: dict[int, str]) -> list[str]:
        """The names of ``node``'s outputs, written by its home's export rule.

        Raises:
            Int8Unsupported: the op has no rule, or its rule no form for these inputs.
        """
        ctx, self._names = self.ctx, names  # the context first: it loads the rules
        rule = type(node.op).onnx_rule
        if rule is None:
            raise Int8Unsupported(f"{describe(node)} (no ONNX export rule)")
        ctx.scope = node.name or f"{node.type}_{node.id}"
        start = len(ctx.nodes)
        try:
            outs = rule(ctx, node, [self.sym(v, names[v.id]) for v in node.inputs])
        except (Unsupported, NotImplementedError) as exc:
            del ctx.nodes[start:]
            raise Int8Unsupported(f"{describe(node)}: {exc}") from exc
        result = []
        for var, sym in zip(node.outputs, outs, strict=True):
            if sym is None and ctx.needed(var):
                raise Int8Unsupported(f"{describe(node)}: output {var.ref} has no ONNX form")
            if sym is not None and (sym.shape, sym.dtype) != (var.shape, var.dtype):
                raise Int8Unsupported(f"{describe(node)}: its export rule made "
                                      f"{sym.dtype}{list(sym.shape)} for {var!r}")
            if sym is not None and sym.pending is not None:  # a constant: written once read
                sym = ctx.emit("Identity", [sym], sym.shape, sym.dtype)
            result.append("" if sym is None else sym.name)
        self.low.nodes.extend(ctx.nodes[start:])
        for name, tensor in ctx.initializers.items():
            if name not in self._written:
                self.low.inits.append(tensor)
                self._written.add(name)
        return result


__all__ = ["FloatBridge", "OwnForm"]
