"""ONNX import: turn an ONNX graph into an mge Module whose forward calls ``mge.functional``.

:func:`from_onnx` reads a model (path, bytes or ``onnx.ModelProto``), converts every node
with the converter table (:mod:`.node`; converters in :mod:`.nn`, :mod:`.pooling`,
:mod:`.tensor`, :mod:`.loss`, :mod:`.elementwise`, :mod:`.reduce`, :mod:`.norm`,
:mod:`.indexing`, :mod:`.scatter`, :mod:`.onehot`, :mod:`.resize`,
:mod:`.gridsample`, :mod:`.selection`, :mod:`.recurrent`,
:mod:`.rotary`, :mod:`.attention`, :mod:`.linear_attention`, :mod:`.deform`,
:mod:`.bitwise`, :mod:`.linalg`,
:mod:`.tfidf`, :mod:`.einsum`, :mod:`.nms`,
:mod:`.control`, :mod:`.ml`)
and returns an :class:`OnnxModule`, traced into a TracedModule unless ``trace=False``:

- initializers become attributes with sanitized names: weights are ``Parameter``\\ s (laid
  out the way MegEngine's modules keep them, e.g. grouped conv weights as
  ``[groups, out/groups, in/groups, kh, kw]``), other tensors used at run time are buffers;
- values that only steer an op (shapes, axes, pads, clip bounds, ``Shape``/``Gather``/
  ``Unsqueeze``/``Concat`` chains over static shapes) are folded at import time; when
  they are computed at run time (symbolic dimensions, operands fed as inputs) the node is
  converted again on every run with their current values (:mod:`.deferred`);
- ``forward(*inputs)`` runs the remaining nodes in graph order through ``F.*`` calls and
  returns the graph outputs in ONNX order (one Tensor when there is a single output).

Every node is checked before anything runs: if some are not supported the import fails
once with :class:`UnsupportedOnnxError`, listing every offending node.

Example:
    >>> import onnx, numpy as np, mge
    >>> from onnx import helper, TensorProto
    >>> g = helper.make_graph(
    ...     [helper.make_node("Relu", ["x"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    >>> net = from_onnx(helper.make_model(g), trace=False)
    >>> net.input_names, net.output_names
    (('x',), ('y',))
    >>> net(mge.tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import keyword
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ....module.module import Module
from ....tensor import Parameter, Tensor
from ..errors import OnnxImportError, Problem, UnsupportedOnnxError
from . import (  # noqa: F401  (converters)
    attention,
    bitwise,
    control,
    deform,
    einsum,
    elementwise,
    gridsample,
    indexing,
    linalg,
    linear_attention,
    loss,
    ml,
    nms,
    nn,
    norm,
    onehot,
    pooling,
    qdq_ops,
    quantized,
    quantized_conv,
    recurrent,
    reduce,
    resize,
    rotary,
    scatter,
    selection,
    tensor,
    tfidf,
)
from .deferred import defer
from .node import (
    CONVERTERS,
    ML_OP_TYPES,
    OP_DOMAINS,
    SUPPORTED_ELEM_TYPES,
    ConstantLookup,
    Node,
    NotConstant,
    OnnxOp,
    Unsupported,
    unsupported_type_reason,
)
from .qdq_graph import rewrite_qdq
from .tensor import RuntimeShape


@dataclasses.dataclass(frozen=True)
class Step:
    """One converted node: ``op(module, *inputs)`` with inputs read from the value table or
    from module attributes (``(True, attr)``), writing ``outputs`` and then dropping
    ``release`` (values no later step needs)."""

    op: OnnxOp
    sources: tuple[tuple[bool, str], ...]
    outputs: tuple[str, ...]
    node: str  # "OpType 'node name'", for error messages
    release: tuple[str, ...] = ()


class OnnxModule(Module):
    """An imported ONNX graph; built by :func:`from_onnx`, not directly.

    Attributes:
        input_names: graph input names, in the order ``forward`` takes them.
        output_names: graph output names, in the order ``forward`` returns them.
        input_specs: ``(shape, dtype)`` per input; symbolic dimensions are ``None``.
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.input_names: tuple[str, ...] = ()
        self.output_names: tuple[str, ...] = ()
        self.input_specs: tuple[tuple[tuple[int | None, ...], np.dtype], ...] = ()
        self._steps: tuple[Step, ...] = ()
        self._results: tuple[tuple[bool, str], ...] = ()

    def forward(self, *inputs: Any) -> Tensor | tuple[Tensor, ...]:
        if len(inputs) != len(self.input_names):
            raise TypeError(
                f"OnnxModule.forward takes {len(self.input_names)} input(s) "
                f"{list(self.input_names)}, got {len(inputs)}"
            )
        env = {
            name: x if isinstance(x, Tensor) else Tensor(x)
            for name, x in zip(self.input_names, inputs)
        }
        for step in self._steps:
            try:
                out = step.op(self, *(self._read(env, ref) for ref in step.sources))
            except (ValueError, TypeError) as exc:
                if hasattr(exc, "add_note"):  # Python >= 3.11
                    exc.add_note(f"while running ONNX node {step.node}")
                raise
            env.update(zip(step.outputs, out if isinstance(out, tuple) else (out,)))
            for name in step.release:
                del env[name]
        results = tuple(self._read(env, ref) for ref in self._results)
        return results[0] if len(results) == 1 else results

    def _read(self, env: dict[str, Tensor], ref: tuple[bool, str]) -> Tensor:
        is_attr, key = ref
        return getattr(self, key) if is_attr else env[key]

    def example_inputs(self) -> tuple[Tensor, ...]:
        """Zero tensors matching ``input_specs`` (symbolic dimensions set to 1)."""
        return tuple(
            Tensor(np.zeros([1 if d is None else d for d in shape], dtype=dtype))
            for shape, dtype in self.input_specs
        )

    def _module_info_string(self) -> str:
        return (
            f"inputs={list(self.input_names)}, outputs={list(self.output_names)}, "
            f"nodes={len(self._steps)}"
        )


def sanitize_name(name: str) -> str:
    """A Python identifier for an ONNX value name (``"a/b:0"`` -> ``"a_b_0"``)."""
    ident = re.sub(r"\W", "_", name, flags=re.ASCII).strip("_") or "value"
    if ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "v_" + ident
    return ident


class ImportContext(ConstantLookup):
    """What converters see: constants, static shapes, opset, and attribute registration."""

    def __init__(self, model: Any, module: OnnxModule) -> None:
        from onnx import numpy_helper

        self.module = module
        self.opset = next(
            (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1
        )
        graph = model.graph
        self.consts: dict[str, np.ndarray] = {
            t.name: numpy_helper.to_array(t) for t in graph.initializer
        }
        self.shapes: dict[str, tuple[int | None, ...]] = {}
        self.dtypes: dict[str, np.dtype] = {}
        self.elem_types: dict[str, int] = {}  # ONNX TensorProto element type per value
        self.elem_types.update((t.name, t.data_type) for t in graph.initializer)
        for info in (*graph.input, *graph.value_info, *graph.output):
            self._record_type(info)
        self.used: set[str] = {i for n in graph.node for i in n.input}
        self.used.update(o.name for o in graph.output)
        self._attrs: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = {}
        self._taken: set[str] = set(dir(module))
        self.new_attrs: list[str] = []

    def _record_type(self, info: Any) -> None:
        from onnx.helper import tensor_dtype_to_np_dtype

        ttype = info.type.tensor_type
        if not info.type.HasField("tensor_type") or not ttype.HasField("shape"):
            return
        self.shapes[info.name] = tuple(
            d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim
        )
        if ttype.elem_type:
            self.elem_types[info.name] = ttype.elem_type
        if ttype.elem_type in SUPPORTED_ELEM_TYPES:
            self.dtypes[info.name] = np.dtype(tensor_dtype_to_np_dtype(ttype.elem_type))

    def unsupported_type(self, names: Sequence[str]) -> str | None:
        """Why one of the values ``names`` has an element type mge cannot compute in,
        or None (values of unknown type pass)."""
        for name in names:
            elem = self.elem_types.get(name)
            if elem is not None and elem not in SUPPORTED_ELEM_TYPES:
                return unsupported_type_reason(repr(name), elem)
        return None

    # ----------------------------------------------------------------- constants
    def static_shape(self, name: str) -> tuple[int, ...] | None:
        """The fully known shape of a value, or None."""
        if name in self.consts:
            return tuple(self.consts[name].shape)
        shape = self.shapes.get(name)
        if shape is None or any(d is None for d in shape):
            return None
        return tuple(int(d) for d in shape)

    # ----------------------------------------------------------------- module state
    def attribute(self, onnx_name: str, value: np.ndarray, kind: str = "param") -> str:
        """Store ``value`` on the module as a Parameter (``kind="param"``) or a buffer and
        return its attribute name; the same name, kind and value share one attribute."""
        value = np.array(value, order="C")  # ascontiguousarray makes 0-d arrays 1-d
        for attr, stored in self._attrs.get((onnx_name, kind), []):
            if stored.shape == value.shape and np.array_equal(stored, value):
                return attr
        base = sanitize_name(onnx_name)
        attr, n = base, 1
        while attr in self._taken:
            attr, n = f"{base}_{n}", n + 1
        self._taken.add(attr)
        self._attrs.setdefault((onnx_name, kind), []).append((attr, value))
        self.new_attrs.append(attr)
        setattr(self.module, attr, (Parameter if kind == "param" else Tensor)(value))
        return attr

    def subgraph(self, graph: Any, what: str) -> tuple[str, list[str]]:
        """Import ``graph`` (a control-flow body: Scan's, Loop's, an If branch) as a child
        :class:`OnnxModule` stored on the module. Returns its attribute name and the
        run-time values of this graph it reads: they become its last inputs (the caller
        passes them); the constants it reads become its initializers."""
        from onnx import helper, numpy_helper

        outer = sorted(_free_values(graph))
        extra = [name for name in outer if name not in self.consts]
        body = helper.make_graph(
            list(graph.node), graph.name or "body",
            [*graph.input, *(helper.make_tensor_value_info(n, self.elem_types.get(n, 0), None)
                             for n in extra)],
            list(graph.output),
            [*graph.initializer, *(numpy_helper.from_array(np.asarray(self.consts[n]), n)
                                   for n in outer if n in self.consts)],
            value_info=list(graph.value_info))
        child = OnnxModule()
        _build(helper.make_model(body, opset_imports=[helper.make_opsetid("", self.opset)]),
               child)
        child.eval()
        attr, n = sanitize_name(f"{what}_body"), 1
        while attr in self._taken:
            attr, n = f"{sanitize_name(what)}_body_{n}", n + 1
        self._taken.add(attr)
        setattr(self.module, attr, child)
        self.new_attrs.append(attr)
        return attr, extra

    def forget_attribute(self, attr: str) -> None:
        """Remove an attribute that no run-time step uses (its node was folded)."""
        delattr(self.module, attr)
        for entries in self._attrs.values():
            entries[:] = [(a, v) for a, v in entries if a != attr]


def _free_values(graph: Any) -> set[str]:
    """The values ``graph`` reads (its nodes, the subgraphs of its nodes at any depth, its
    outputs) that it does not define: a control-flow body's outer-scope operands."""
    from onnx import AttributeProto

    inner = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    inner |= {o for n in graph.node for o in n.output}
    reads = {i for n in graph.node for i in n.input if i} | {o.name for o in graph.output}
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                reads |= _free_values(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    reads |= _free_values(sub)
    return reads - inner


def _load(model: Any) -> Any:
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        return _parse(lambda: onnx.load_from_string(bytes(model)), "the bytes given")
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise OnnxImportError(f"from_onnx: no such file {path!r}")
        return _parse(lambda: onnx.load(path), repr(path))
    raise TypeError(
        f"from_onnx expects a path, bytes or onnx.ModelProto, got {type(model).__name__}"
    )


def _parse(read: Callable[[], Any], what: str) -> Any:
    """``read()`` an ONNX model; any failure becomes one :class:`OnnxImportError`."""
    try:
        model = read()
    except OSError as exc:
        raise OnnxImportError(f"cannot read {what}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and onnx's own errors
        raise OnnxImportError(f"cannot read {what} as an ONNX model: {exc}") from None
    if not model.graph.node and not model.graph.output:
        raise OnnxImportError(f"{what} holds no ONNX graph (empty or not an ONNX file)")
    return model


def _unknown_op(node: Node) -> str | None:
    """Why ``node`` has no converter at all (foreign domain, unknown type), or None."""
    domains = ("ai.onnx.ml",) if node.op_type in ML_OP_TYPES else \
        (OP_DOMAINS[node.op_type],) if node.op_type in OP_DOMAINS else ("", "ai.onnx")
    if node.domain not in domains:
        return f"domain {node.domain!r} is not supported"
    if node.op_type not in CONVERTERS:
        return "op type not supported"
    return None


def _fold(op: OnnxOp, ctx: ImportContext, inputs: Sequence[str], outputs: Sequence[str]) -> None:
    """Run a node whose inputs are all constants now and keep its outputs as constants."""
    out = op(ctx.module, *(Tensor(ctx.consts[i]) for i in inputs))
    values = out if isinstance(out, tuple) else (out,)
    ctx.consts.update((name, value.numpy()) for name, value in zip(outputs, values))
    for attr in ctx.new_attrs:
        ctx.forget_attribute(attr)


def _input_problems(graph: Any, ctx: ImportContext) -> list[Problem]:
    """Graph inputs and outputs that are not tensors of a type mge computes in."""
    problems = []
    for kind, values in (("graph input", graph.input), ("graph output", graph.output)):
        for value in values:
            if value.name in ctx.consts:
                continue
            which = value.type.WhichOneof("value")
            if which not in (None, "tensor_type"):
                reason = f"{which.removesuffix('_type')}-typed values are not supported " \
                         "(mge imports tensors only)"
            else:
                reason = ctx.unsupported_type([value.name])
            if reason is not None:
                problems.append(Problem(kind, value.name, reason))
    return problems


def _convert_nodes(graph: Any, ctx: ImportContext) -> list[Step]:
    """Convert (or fold) every node; ``UnsupportedOnnxError`` lists all failures."""
    problems = _input_problems(graph, ctx)
    runtime = {i.name for i in graph.input if i.name not in ctx.consts}
    broken: set[str] = set()  # outputs of failed nodes: their consumers are not judged
    shape_only: set[str] = set()  # run-time values computed from shapes only
    steps = []
    for index, proto in enumerate(graph.node):
        node = Node(proto, index)
        reason = _unknown_op(node)
        if reason is None and broken.intersection(node.inputs):
            broken.update(o for o in node.outputs if o)
            continue
        ctx.new_attrs = []
        try:
            if reason is not None:
                raise Unsupported(reason)
            converted = CONVERTERS[node.op_type](node, ctx)
        except NotConstant as exc:
            if exc.name not in runtime:
                problems.append(Problem(node.op_type, node.name, str(exc)))
                broken.update(o for o in node.outputs if o)
                continue
            for attr in ctx.new_attrs:
                ctx.forget_attribute(attr)
            ctx.new_attrs = []
            deferred = defer(node, ctx, runtime, runtime - shape_only)
            converted = deferred, [*deferred.inputs, *(i for i, _ in deferred.consts)], \
                deferred.outputs
        except Unsupported as exc:
            problems.append(Problem(node.op_type, node.name, str(exc)))
            broken.update(o for o in node.outputs if o)
            continue
        if converted is None:  # the converter folded the node itself
            continue
        op, inputs, outputs = converted
        if inputs and all(ctx.is_const(i) for i in inputs):
            _fold(op, ctx, inputs, outputs)
            continue
        reason = ctx.unsupported_type([*node.inputs, *node.outputs])
        if reason is not None:
            problems.append(Problem(node.op_type, node.name, reason))
            broken.update(o for o in node.outputs if o)
            continue
        missing = [i for i in inputs if i not in runtime and not ctx.is_const(i)]
        if missing:
            raise OnnxImportError(f"node {node.name!r} reads {missing}, which no earlier node "
                                  "produces (the graph is not topologically sorted?)")
        sources = tuple(
            (False, i) if i in runtime else (True, ctx.attribute(i, ctx.consts[i], "buffer"))
            for i in inputs
        )
        if isinstance(op, RuntimeShape) or all(i in shape_only for i in inputs if i in runtime):
            shape_only.update(outputs)
        runtime.update(outputs)
        steps.append(Step(op, sources, tuple(outputs), f"{node.op_type} {node.name!r}"))
    if problems:
        raise UnsupportedOnnxError(problems)
    return steps


def _build(model: Any, module: OnnxModule) -> None:
    import onnx

    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - inferred shapes help (Shape, auto_pad) but are optional
        pass
    graph = model.graph
    ctx = ImportContext(model, module)
    steps = _convert_nodes(graph, ctx)
    produced = {name for step in steps for name in step.outputs}
    inputs = tuple(i.name for i in graph.input if i.name not in ctx.consts)
    results = []
    for out in graph.output:
        if out.name in produced or out.name in inputs:
            results.append((False, out.name))
        elif out.name in ctx.consts:
            results.append((True, ctx.attribute(out.name, ctx.consts[out.name], "buffer")))
        else:
            raise OnnxImportError(f"graph output {out.name!r} is produced by no node")
    module.input_names = inputs
    module.output_names = tuple(o.name for o in graph.output)
    module.input_specs = tuple(
        (ctx.shapes.get(n, ()), ctx.dtypes.get(n, np.dtype("float32"))) for n in inputs
    )
    module._steps = _with_releases(steps, set(module.output_names))
    module._results = tuple(results)


def _with_releases(steps: Sequence[Step], keep: set[str]) -> tuple[Step, ...]:
    """Attach to every step the run-time values read for the last time there."""
    last_use: dict[str, int] = {}
    for index, step in enumerate(steps):
        for is_attr, key in step.sources:
            if not is_attr:
                last_use[key] = index
    releases: dict[int, list[str]] = {}
    for name, index in last_use.items():
        if name not in keep:
            releases.setdefault(index, []).append(name)
    return tuple(
        dataclasses.replace(step, release=tuple(sorted(releases.get(i, ()))))
        for i, step in enumerate(steps)
    )


def from_onnx(model: Any, trace: bool = True, int8: bool = False) -> Module:
    """Import an ONNX model (path, bytes or ``onnx.ModelProto``) as an mge module.

    Args:
        model: the ONNX model.
        trace: return ``mge.traced_module.trace_module(module, *module.example_inputs())``
            (a TracedModule) rather than the eager :class:`OnnxModule`. Shapes read while
            tracing (``Reshape`` zeros, ``ceil_mode`` pooling) are fixed to the example
            inputs, whose symbolic dimensions are 1.
        int8: import the ``QuantizeLinear``/``DequantizeLinear`` patterns of a QDQ model
            as MegEngine's quantized graph (``qint8`` tensors, quantized ``ConvBias``,
            ``ElemwiseMultiType``, ``TypeCvt``: :mod:`.qdq_graph`), the form an int8
            ``.mge`` holds, rather than as exact float emulations of ONNX's semantics.
            Rounding is then MegEngine's (ties away from zero, not ONNX's ties to even).
            The module's ``int8_summary`` (a str) counts the quantized ops and says why
            any pattern stayed emulated.

    Raises:
        UnsupportedOnnxError: listing every node that cannot be imported.
        OnnxImportError: the model cannot be read.

    Example:
        >>> net = from_onnx("mobilenet_v2.onnx", trace=False)  # doctest: +SKIP
        >>> probs, logits = net(mge.tensor(image))  # doctest: +SKIP
    """
    proto = _load(model)
    summary = None
    if int8:
        proto, report = rewrite_qdq(proto)
        summary = str(report)
    module = OnnxModule()
    _build(proto, module)
    module.eval()
    if summary is not None:
        module.int8_summary = summary
    if not trace:
        return module
    from ....traced_module import trace_module

    traced = trace_module(module, *module.example_inputs())
    # the eager interpreter's steps name functions to call: the graph replaces them, and a
    # TracedModule without them is plain data that mge.load admits by default
    del traced._steps, traced._results
    if summary is not None:
        traced.int8_summary = summary
    return traced


__all__ = [
    "OnnxModule",
    "from_onnx",
    "sanitize_name",
]
