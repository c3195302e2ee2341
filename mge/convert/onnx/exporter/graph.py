"""Graph IR -> ONNX: the converter table, the conversion loop and the model assembly.

Every op class carries its ONNX export rule ``rule(ctx, node, inputs) -> outputs``
(``cls.onnx_rule``, registered in its family home ``mge/ops/<family>/onnx_export.py``);
it receives the op node and one :class:`Sym` per input and returns one Sym per output
(``None`` for an output it cannot produce). A rule that cannot express its op raises
:class:`~mge.ops.registry.Unsupported`; the conversion goes on with placeholders, so that
one run lists every problem, and then fails with :class:`UnsupportedOpError`.

Before converting, ops whose inputs are all constants are evaluated with the numpy
backend (``fold=True``), so weight transformations and shape arithmetic become plain
initializers. Value names follow the graph: inputs and outputs keep their names (or the
ones given), named vars keep theirs, constants are initializers named after their var.

Example:
    >>> model = export_graph(graph, opset=13)                   # doctest: +SKIP
    >>> [i.name for i in model.graph.input]                     # doctest: +SKIP
    ['data']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ....backends import get_backend
from ....core.apply import run_op
from ....core.opdef import REGISTRY, OpDef
from ....graph.ir import ConstOp, Graph, Host2DeviceCopy, OpNode, VarNode
from ....ops.batching import BATCH_DIM_NAME
from ....ops.conv import onnx_export as _conv  # noqa: F401 - each family's export rules
from ....ops.elemwise import onnx_export as _elemwise  # noqa: F401
from ....ops.nn import onnx_export as _nn  # noqa: F401
from ....ops.optim import onnx_export as _optim  # noqa: F401
from ....ops.pooling import onnx_export as _pooling  # noqa: F401
from ....ops.quantized import onnx_fake_quant as _fake_quant  # noqa: F401
from ....ops.random import onnx_export as _random  # noqa: F401
from ....ops.reduce import onnx_export as _reduce  # noqa: F401
from ....ops.registry import Unsupported
from ....ops.shape import onnx_export as _shape  # noqa: F401
from ....ops.utility import onnx_export as _utility  # noqa: F401
from ....ops.vision import onnx_detection as _detection  # noqa: F401
from ....ops.vision import onnx_export as _vision  # noqa: F401
from ..errors import OnnxExportError, Problem, UnsupportedOpError
from .batch import BatchDim, batch_axes
from .sym import OnnxBuilder, Sym, onnx_dtype

#: the opsets the exporter writes (the newest one is onnx's)
MIN_OPSET = 13
#: results of constant folding larger than this (bytes) are kept as ops when they are
#: also larger than their inputs (a Broadcast of a scalar stays a Broadcast)
FOLD_LIMIT = 1 << 20


Converter = Callable[["ExportContext", OpNode, list[Sym]], Sequence[Sym | None]]


def load_converters() -> dict[type[OpDef], Converter]:
    """The op classes with an ONNX export rule, and their rules (the families' export
    modules are imported with the exporter)."""
    return {cls: cls.onnx_rule for cls in REGISTRY.values() if cls.onnx_rule is not None}


class ExportContext(OnnxBuilder):
    """What converters see: the builder, constant values and batch axes."""

    def __init__(self, opset: int, consts: dict[int, np.ndarray],
                 batch: dict[int, BatchDim | None] | None) -> None:
        super().__init__(opset)
        self.consts = consts
        self.batch = batch
        self.read: set[int] = set()  # ids of the vars some op or the graph output reads
        self.value_of: Callable[[VarNode], Sym] = lambda var: NotImplemented

    @property
    def dynamic_batch(self) -> bool:
        return self.batch is not None

    def needed(self, var: VarNode) -> bool:
        """Whether anything reads ``var`` (converters may skip unread outputs)."""
        return var.id in self.read

    def const_value(self, var: VarNode) -> np.ndarray | None:
        """The value of a constant (or folded) var, else ``None``."""
        return self.consts.get(var.id)

    def batch_axis(self, var: VarNode) -> int | None:
        """The axis of ``var`` that holds the (dynamic) batch, if any."""
        dim = None if self.batch is None else self.batch.get(var.id)
        return None if dim is None else dim[0]

    def static_only(self, node: OpNode, what: str) -> None:
        """Fail under ``dynamic_batch`` when a batch-carrying input would be baked in."""
        if self.dynamic_batch and any(self.batch_axis(v) is not None for v in node.inputs):
            raise Unsupported(f"with dynamic_batch: {what} bakes the batch size")


def _fold(order: Sequence[OpNode], fold: bool) -> dict[int, np.ndarray]:
    numpy = get_backend("numpy")
    values: dict[int, np.ndarray] = {}
    for node in order:
        if isinstance(node.op, ConstOp):
            values[node.outputs[0].id] = node.op.value
        elif fold and not isinstance(node.op, Host2DeviceCopy) and not node.op.random and all(
                v.id in values for v in node.inputs):
            size = sum(v.dtype.itemsize * int(np.prod(v.shape)) for v in node.outputs)
            if size > max(FOLD_LIMIT, sum(values[v.id].nbytes for v in node.inputs)):
                continue
            try:
                result = run_op(node.op, *[values[v.id] for v in node.inputs], backend=numpy)
            except Exception:  # noqa: BLE001 - folding is optional: the op is converted instead
                continue
            results = result if len(node.outputs) > 1 else (result,)
            for v, r in zip(node.outputs, results, strict=True):
                values[v.id] = np.asarray(r, v.dtype)
    return values


def _names(given: Sequence[str] | None, vars_: Sequence[VarNode], what: str,
           default: Callable[[int, VarNode], str]) -> list[str]:
    if given is None:
        names = [v.name or default(k, v) for k, v in enumerate(vars_)]
    else:
        names = [str(n) for n in given]
        if len(names) != len(vars_):
            raise OnnxExportError(f"{len(names)} {what} given for {len(vars_)} graph {what}: "
                                  f"{names}")
    if len(set(names)) != len(names):
        raise OnnxExportError(f"{what} must be unique: {names}")
    return names


class _Converter:
    """One run of the conversion loop over a graph."""

    def __init__(self, graph: Graph, ctx: ExportContext, input_names: list[str],
                 output_names: list[str], blocked: dict[int, str]) -> None:
        self.graph = graph
        self.blocked = blocked
        self.ctx = ctx
        self.values: dict[int, Sym] = {}
        self.problems: list[Problem] = []
        self.output_names = output_names
        for var, name in zip(graph.inputs, input_names, strict=True):
            self.values[var.id] = ctx.input(name, var.shape, var.dtype)
        ctx.value_of = self.sym
        clash = set(input_names) & set(output_names)
        outputs_are_inputs = {v.name for v in graph.outputs if v.is_input}
        if clash - outputs_are_inputs:
            raise OnnxExportError(f"output names {sorted(clash)} are also input names")
        self.reserved: dict[int, str] = {}
        for var, name in zip(graph.outputs, output_names, strict=True):
            if not ctx.taken(name):
                ctx.unique(name)
                self.reserved.setdefault(var.id, name)

    def sym(self, var: VarNode) -> Sym:
        sym = self.values.get(var.id)
        if sym is None:  # a constant, made an initializer on first use
            value = self.ctx.const_value(var)
            assert value is not None, f"{var!r} has no value"
            sym = self.ctx.lazy_const(value, var.name or "const")
            self.values[var.id] = sym
        return sym

    def run(self, order: Sequence[OpNode]) -> None:
        for node in order:
            if isinstance(node.op, (Host2DeviceCopy, ConstOp)) or all(
                    self.ctx.const_value(v) is not None for v in node.outputs):
                continue
            self.convert(node)

    def convert(self, node: OpNode) -> None:
        ctx = self.ctx
        where = node.name or f"{node.type}_{node.id}"
        ctx.scope = where
        start = len(ctx.nodes)
        inputs = [self.sym(v) for v in node.inputs]
        judged = True  # the converter ran on real inputs and did not fail
        try:
            fn = type(node.op).onnx_rule
            if node.id in self.blocked:
                raise Unsupported(f"with dynamic_batch: {self.blocked[node.id]}")
            if fn is None:
                raise Unsupported("no ONNX converter for this op type")
            outs: Sequence[Sym | None] = fn(ctx, node, inputs)
            if any(s.name.startswith("<") for s in inputs):  # judged on its own
                del ctx.nodes[start:]
                outs, judged = [None] * len(node.outputs), False
        except (Unsupported, NotImplementedError) as exc:
            out = node.outputs[0]
            self.problems.append(Problem(node.type, where, str(exc), out.ref))
            del ctx.nodes[start:]
            outs, judged = [None] * len(node.outputs), False
        made = {o for n in ctx.nodes[start:] for o in n.output}
        for k, (var, sym) in enumerate(zip(node.outputs, outs, strict=True)):
            if sym is None and ctx.needed(var) and judged:
                self.problems.append(Problem(node.type, where,
                                             f"output {k} has no ONNX form", var.ref))
            if sym is None:
                sym = Sym(ctx, f"<{node.type} output {var.ref}>", var.shape, var.dtype)
            elif (sym.shape, sym.dtype) != (var.shape, var.dtype):
                raise AssertionError(
                    f"ONNX converter for {node.type} made {sym.dtype}{list(sym.shape)} for "
                    f"{var!r}")
            elif sym.name in made:
                self.rename(sym, self.var_name(var), start)
            self.values[var.id] = sym

    def var_name(self, var: VarNode) -> str:
        reserved = self.reserved.pop(var.id, None)
        return reserved or self.ctx.unique(var.name or f"{var.owner.type}_{var.id}")

    def rename(self, sym: Sym, new: str, start: int) -> None:
        old = sym.name
        for n in self.ctx.nodes[start:]:
            n.input[:] = [new if i == old else i for i in n.input]
            n.output[:] = [new if o == old else o for o in n.output]
        self.ctx.release(old)
        sym.name = new

    def finish_outputs(self) -> list[Sym]:
        """One Sym per graph output, named as asked (Identity where a value is reused)."""
        result = []
        for var, name in zip(self.graph.outputs, self.output_names, strict=True):
            sym = self.sym(var)
            if sym.name != name:
                ident = self.ctx.emit("Identity", [sym], sym.shape, sym.dtype)
                self.rename(ident, name, len(self.ctx.nodes) - 1)
                sym = ident
            result.append(sym)
        return result


def _live_nodes(nodes: Sequence[Any], outputs: set[str]) -> list[Any]:
    """The nodes the outputs depend on (peepholes leave some unread)."""
    needed, live = set(outputs), []
    for node in reversed(nodes):
        if needed.intersection(node.output):
            live.append(node)
            needed.update(node.input)
    return live[::-1]


def _value_info(sym: Sym, batch_axis: int | None) -> Any:
    from onnx import helper

    dims: list[Any] = list(sym.shape)
    if batch_axis is not None:
        dims[batch_axis] = BATCH_DIM_NAME
    return helper.make_tensor_value_info(sym.name, onnx_dtype(sym.dtype), dims)


def export_graph(graph: Graph, *, opset: int = MIN_OPSET,
                 input_names: Sequence[str] | None = None,
                 output_names: Sequence[str] | None = None, dynamic_batch: bool = False,
                 fold: bool = True, check: bool = True, name: str = "mge",
                 external_weights: dict[str, np.ndarray] | None = None) -> Any:
    """Convert ``graph`` to an ``onnx.ModelProto`` that passes ``onnx.checker``
    (checked unless ``check=False``, for callers that hand it to a runtime at once).

    With ``external_weights`` (a dict, filled here), initializers over 1 KiB are only
    declared in the model (external data) and their arrays go into the dict by name,
    uncopied where they are contiguous: for a runtime that takes the weights as arrays
    (onnxruntime's ``add_external_initializers``). Such a model is not checked.

    Raises:
        UnsupportedOpError: listing every op that has no ONNX form.
        OnnxExportError: bad names, or (a bug) a model the checker rejects.
    """
    import onnx
    from onnx import helper

    load_converters()
    check_opset(opset)
    order = graph.ops(list(graph.inputs) + list(graph.outputs))
    consts = _fold(order, fold)
    batch, blocked = batch_axes(graph, order, consts) if dynamic_batch else (None, {})
    ctx = ExportContext(opset, consts, batch)
    ctx.external = external_weights
    ctx.read = {v.id for n in order for v in n.inputs} | {v.id for v in graph.outputs}
    ins = _names(input_names, graph.inputs, "input names", lambda k, v: f"input_{k}")
    outs = _names(output_names, graph.outputs, "output names", lambda k, v: f"output_{k}")
    conv = _Converter(graph, ctx, ins, outs, blocked)
    conv.run(order)
    if conv.problems:
        raise UnsupportedOpError(conv.problems, "export to ONNX", "op")
    results = conv.finish_outputs()
    nodes = _live_nodes(ctx.nodes, {s.name for s in results})
    used = {i for n in nodes for i in n.input} | {s.name for s in results}
    inits = [t for n, t in ctx.initializers.items() if n in used]
    for unused in [n for n in external_weights or {} if n not in used]:
        del external_weights[unused]
    g = helper.make_graph(
        nodes, name,
        [_value_info(conv.values[v.id], ctx.batch_axis(v)) for v in graph.inputs],
        [_value_info(s, ctx.batch_axis(v)) for s, v in zip(results, graph.outputs, strict=True)],
        inits)
    opsets = [helper.make_opsetid("", opset)]
    from .... import __version__

    model = helper.make_model(g, opset_imports=opsets, producer_name="mge",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    try:
        if check and external_weights is None:
            onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # noqa: BLE001 - any checker failure is an exporter bug
        raise OnnxExportError(f"internal error: the exported model fails onnx.checker: {exc}") \
            from exc
    return model


def check_opset(opset: Any) -> None:
    """``OnnxExportError`` unless ``opset`` is one the exporter writes."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or \
            not MIN_OPSET <= opset <= newest:
        raise OnnxExportError(
            f"opset must be an int from {MIN_OPSET} to {newest} (onnx {onnx.__version__}), "
            f"got {opset!r}")


__all__ = ["MIN_OPSET", "ExportContext", "Unsupported", "check_opset", "export_graph",
           "load_converters"]
