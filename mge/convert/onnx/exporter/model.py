"""ONNX export: :func:`to_onnx` turns a TracedModule or a ``.mge`` file into an ONNX model.

This is the road MegEngine's docs send deployments on other platforms down
(mgeconvert's ``tracedmodule_to_onnx`` / ``mge_to_onnx``): ONNX is what onnxruntime,
TensorRT, OpenVINO, ncnn and MNN read. The source is lowered to mge's static graph IR
(a TracedModule through :class:`mge.jit.trace` on example inputs of its traced shapes,
a ``.mge`` file through :func:`mge.serialization.mge_graph.load_graph`), every op is
converted by the table in :mod:`.graph`, and the model is checked with
``onnx.checker`` before it is written, atomically (a temporary file renamed into place):
an export that fails leaves no file behind.

Example:
    >>> import mge.convert
    >>> model = mge.convert.to_onnx("resnet18.mge", "resnet18.onnx")     # doctest: +SKIP
    >>> [i.name for i in model.graph.input]                              # doctest: +SKIP
    ['data']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ....graph.ir import Graph
from ....graph.passes import optimize_for_inference, run_passes
from ....jit.trace import trace
from ....ops.nn import BatchNormForward
from ....serialization.fbs.errors import MgeFormatError
from ....serialization.mge_graph import CompGraphLoadResult, graph_from_bytes
from ....tensor import Tensor
from ....traced_module import TracedModule
from ..errors import OnnxExportError
from ..files import check_destination, write_file
from .graph import MIN_OPSET, check_opset, export_graph
from .quantized import export_quantized, is_quantized

PathLike = str | os.PathLike


def _example(node: Any) -> Any:
    if node.shape is None or node.dtype is None:
        raise OnnxExportError(f"TracedModule input {node.name!r} has no traced shape/dtype")
    return Tensor(np.zeros(node.shape, node.dtype))


def traced_module_graph(tm: Any) -> tuple[Graph, list[str], list[str]]:
    """Lower a TracedModule to a graph (``jit.trace`` on zeros of its traced input shapes).

    Returns the graph and default input and output names: the module's ``input_names`` /
    ``output_names`` when it has them (ONNX-imported modules do), else the names of its
    graph's input and output nodes.
    """
    try:
        graph = tm.graph
    except ValueError as exc:
        raise OnnxExportError(f"cannot export a TracedModule with several graphs: {exc}") \
            from None
    (tree, consts), = [k for k, g in tm.argdef_graph_map.items() if g is graph]
    nodes = graph.inputs[1:]

    def call(*tensors: Any) -> Any:
        it = iter(tensors)
        args, kwargs = tree.unflatten([next(it) if c is None else c for c in consts])
        return tm(*args, **kwargs)

    call.__name__ = tm.origin_class or "TracedModule"
    traced = trace(call, capture_as_const=True)
    traced(*[_example(n) for n in nodes])
    if traced.shape_reads:  # a .mge dump guards them; ONNX has no check to hold one
        what = ", ".join(sorted({r.how for r in traced.shape_reads}))
        raise OnnxExportError(f"cannot export: the module read input-shape values in Python "
                              f"({what}) while traced; ONNX would hold the traced values")
    g = traced.graph
    _check_inference(g)
    _name_constants(g, tm)
    ins = _attr_names(tm, "input_names", len(g.inputs)) or [n.name for n in nodes]
    outs = _attr_names(tm, "output_names", len(g.outputs)) or \
        list(traced.output_names or [n.name for n in graph.outputs])
    return g, ins, outs


def _name_constants(graph: Graph, module: Any) -> None:
    """Name the graph's unnamed constants after the module parameters/buffers they hold."""
    def key(value: np.ndarray) -> tuple:
        return value.shape, value.dtype.str, hash(value.tobytes())

    owners: dict[tuple, str] = {}
    for name, t in [*module.named_parameters(), *module.named_buffers()]:
        owners.setdefault(key(t.numpy()), name)
    for var in graph.params():
        if not var.name:
            var.name = owners.get(key(var.value))


def _attr_names(tm: Any, attr: str, count: int) -> list[str] | None:
    names = getattr(tm, attr, None)
    if isinstance(names, (list, tuple)) and len(names) == count and \
            all(isinstance(n, str) for n in names):
        return list(names)
    return None


def _check_inference(graph: Graph) -> None:
    for node in graph.ops():
        if isinstance(node.op, BatchNormForward) and node.op.fwd_mode != "INFERENCE":
            raise OnnxExportError("cannot export BatchNorm in training mode: call .eval() "
                                  "on the module before tracing it")


def mge_file_graph(path: PathLike) -> tuple[Graph, list[str], list[str]]:
    """Parse a ``.mge`` file as a graph with its names. It is only ever parsed as a model:
    a pickle (a TracedModule saved with ``mge.save``) is refused, never unpickled."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise OnnxExportError(f"cannot read {os.fspath(path)!r}: {exc.strerror or exc}") \
            from None
    if data[:1] == b"\x80":
        raise OnnxExportError(
            f"{os.fspath(path)!r} is a Python pickle, not a .mge model; a pickle can run code, "
            "so a TracedModule saved with mge.save is loaded only when asked for: "
            "to_onnx(mge.load(path)), `mge convert --traced-module`, or "
            "`python -m mge.convert tracedmodule_to_onnx`")
    try:
        loaded = graph_from_bytes(data, os.fspath(path))
    except MgeFormatError as exc:
        raise OnnxExportError(f"cannot read {os.fspath(path)!r} as a .mge model: {exc}") \
            from None
    graph = loaded.graph
    return graph, [v.name for v in graph.inputs], \
        [v.name or f"output_{k}" for k, v in enumerate(graph.outputs)]


def source_graph(model: Any) -> tuple[Graph, list[str], list[str]]:
    """The graph and default input/output names of any source :func:`to_onnx` takes."""
    if isinstance(model, TracedModule):
        return traced_module_graph(model)
    if isinstance(model, (str, os.PathLike)):
        if not os.path.isfile(model):
            raise OnnxExportError(f"to_onnx: no such file {os.fspath(model)!r}")
        return mge_file_graph(model)
    if isinstance(model, CompGraphLoadResult):
        model = model.graph
    if isinstance(model, trace):
        names = model.output_names
        model = model.graph
        return model, [v.name for v in model.inputs], list(names or [
            v.name or f"output_{k}" for k, v in enumerate(model.outputs)])
    if isinstance(model, Graph):
        return model, [v.name for v in model.inputs], \
            [v.name or f"output_{k}" for k, v in enumerate(model.outputs)]
    kind = type(model).__name__
    hint = " (trace it first: mge.traced_module.trace_module(net, *example_inputs))" \
        if hasattr(model, "forward") else ""
    raise TypeError(f"to_onnx takes a TracedModule, a .mge path, a traced function or a "
                    f"graph, got {kind}{hint}")


def to_onnx(
    model: Any,
    output: PathLike | None = None,
    *,
    opset: int = MIN_OPSET,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = False,
    fp16: bool = False,
    optimize: bool = True,
) -> Any:
    """Export a model to ONNX; returns the ``onnx.ModelProto`` and writes it to ``output``.

    Args:
        model: a TracedModule (traced with example inputs; exported for those shapes), a
            path to a ``.mge`` file (only ever parsed as a model: for a TracedModule saved
            with ``mge.save``, pass ``mge.load(path)``), a traced function
            (:class:`mge.jit.trace`, after its first call) or a graph.
        output: where to write the ``.onnx`` file (``None``: only return the model).
        opset: the ONNX opset, from 13 to the newest one the installed onnx knows.
        input_names, output_names: ONNX names of the graph inputs and outputs (default:
            the model's own names).
        dynamic_batch: make the batch dimension (axis 0 of every input) symbolic.
        fp16: compute in float16: float32 weights are stored as float16 and float32
            inputs and outputs are cast at the graph's edges (their types are unchanged).
        optimize: run MegEngine's inference passes first (BatchNorm folding, constant
            folding, convolution + bias + nonlinearity fusion).

    A graph holding quantized dtypes (an int8 ``.mge`` dump) is written as a standard
    QDQ model (:mod:`.quantized`): int8 ``QuantizeLinear``/``DequantizeLinear`` pairs,
    int32 biases, float32 edges where the ``.mge``'s are float and a quantized input or
    output as its integer codes; its opset is at least 18, ``optimize`` has no effect,
    ``fp16`` raises :class:`OnnxExportError`, and ``dynamic_batch`` frees its batch as in
    a float export.

    Raises:
        UnsupportedOpError: listing every op (type, name, output) that has no ONNX form;
            nothing is written.
        OnnxExportError: a bad opset or names, an unwritable ``output``, a
            TracedModule with BatchNorm in training mode, or a quantized graph with an
            op the QDQ lowering cannot express (named), ``fp16``, or with
            ``dynamic_batch`` an op that bakes the batch size in (named).

    Example:
        >>> tm = mge.traced_module.trace_module(net, x)                # doctest: +SKIP
        >>> to_onnx(tm, "net.onnx", input_names=["data"], dynamic_batch=True)  # doctest: +SKIP
    """
    check_opset(opset)
    dest = check_destination(output, "the ONNX model") if output is not None else None
    graph, ins, outs = source_graph(model)
    graph.lint()
    if is_quantized(graph):
        proto = export_quantized(graph, opset=opset, input_names=input_names or ins,
                                 output_names=output_names or outs,
                                 dynamic_batch=dynamic_batch, fp16=fp16)
    else:
        proto = _export_float(graph, opset, input_names or ins, output_names or outs,
                              dynamic_batch=dynamic_batch, fp16=fp16, optimize=optimize)
    if dest is not None:
        try:
            data = proto.SerializeToString()
        except ValueError as exc:  # protobuf's 2 GiB limit
            raise OnnxExportError(f"the ONNX model is too large to serialize: {exc}") from exc
        write_file(dest, data, "the ONNX model")
    return proto


def _export_float(graph: Graph, opset: int, input_names: Sequence[str],
                  output_names: Sequence[str], *, dynamic_batch: bool, fp16: bool,
                  optimize: bool) -> Any:
    """The ONNX model of a float graph, op by op (:func:`export_graph`)."""
    if optimize:
        graph, _ = optimize_for_inference(graph, enable_fuse_conv_bias_nonlinearity=True)
    if fp16:
        graph = graph.copy()
        run_passes(graph, ["float16"])
    try:
        return export_graph(graph, opset=opset, input_names=input_names,
                            output_names=output_names, dynamic_batch=dynamic_batch)
    except ValueError as exc:
        if isinstance(exc, OnnxExportError):
            raise
        raise OnnxExportError(str(exc)) from exc


__all__ = ["mge_file_graph", "source_graph", "to_onnx", "traced_module_graph"]
