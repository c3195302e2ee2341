"""Quantized graphs exported as standard QDQ ONNX models.

A graph holding quantized dtypes (MegEngine's int8 dumps, an mge PTQ net traced and
dumped) has no float op-by-op ONNX form; :func:`to_onnx` hands it here. The model is the
QDQ lowering of :func:`mge.runtime.int8_qdq.trace_qdq` (``shift=False``): float32 ops on
the reals a quantized var stands for, each 8-bit quantization a ``QuantizeLinear`` ->
``DequantizeLinear`` pair with **int8** codes (activations and weights), a conv's
``QuantizedS32`` bias as int32 codes and a ``DequantizeLinear`` (scale ``x_scale *
w_scale``), as onnxruntime's ``quantize_static`` writes them. onnxruntime and OpenVINO
run such a model on their int8 kernels; :mod:`.qdq_pairs` adds the Q/DQ pairs (on values
already on their grid: no value changes) onnxruntime's fusion needs to run every
convolution of ResNet-18 and 47 of MobileNetV2's 52 on them.

Graph edges keep their storage types: a float32 input or output of the ``.mge`` is a
float32 one; a **quantized input or output is its integer codes** (int8 for
``QuantizedS8``, uint8 for ``Quantized8Asymm``, int32 for ``QuantizedS32``), at the
scale and zero point the ``.mge`` gives it, so a caller quantizes and dequantizes at the
edges itself. Names are the ``.mge``'s (or ``input_names`` / ``output_names``).

What differs from a float export:

* the opset is at least :data:`MIN_QDQ_OPSET` (18: ``ReduceMean`` takes its axes as an
  input, as the lowering writes it): a lower ``opset`` is raised to it, a higher one is
  written as asked (onnxruntime 1.32 refuses a model at opset 21 or later where a
  ``DequantizeLinear`` feeds a ``Transpose``, as in MobileNetV2's pooling: its QDQ
  propagation writes a ``QuantizeLinear`` whose ``output_dtype`` mismatches);
* ``optimize`` has no effect: a quantized graph is already fused (conv + bias +
  nonlinearity in one ``ConvBias``); its constant computations (a TracedModule's bias
  cast to ``QuantizedS32``, shape chains) are always folded;
* ``fp16`` raises :class:`OnnxExportError` (the graph computes in int8);
* ``dynamic_batch``: as in a float export, the batch dim of every input (axis 0) and of
  the outputs that carry it is the symbolic ``batch``, followed through the graph by the
  ops' batch rules (:mod:`.batch`), and each ``Reshape`` target holds ``-1`` there; a
  graph whose batch cannot be followed (an op that mixes or bakes in the batch size) is
  refused, naming the op. At each batch size the model computes what the static export
  of the graph at that size does;
* results agree with mge's exact int8 kernels within about one quantization step per
  layer, not bit for bit: ONNX rounds ties to even, MegEngine away from zero.

Example:
    >>> model = export_quantized(load_graph("int8_resnet18.mge").graph)   # doctest: +SKIP
    >>> [i.name for i in model.graph.input]                                # doctest: +SKIP
    ['data']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ....dtype import is_quantize
from ....graph.ir import Graph
from ....graph.passes import run_passes
from ....runtime.int8_onnx import Int8Unsupported
from ....runtime.int8_qdq import BatchDims, trace_qdq
from ..errors import OnnxExportError
from .batch import batch_axes
from .graph import _names
from .qdq_pairs import add_fusable_pairs

#: the lowest opset of a QDQ export (``ReduceMean`` with its axes as an input)
MIN_QDQ_OPSET = 18


def is_quantized(graph: Graph) -> bool:
    """Whether any var of ``graph`` (an input, a constant or an op's output) is quantized."""
    if any(is_quantize(v.dtype) for v in graph.inputs):
        return True
    return any(is_quantize(v.dtype) for node in graph.ops() for v in node.outputs)


def export_quantized(graph: Graph, *, opset: int = MIN_QDQ_OPSET,
                     input_names: Sequence[str] | None = None,
                     output_names: Sequence[str] | None = None,
                     dynamic_batch: bool = False, fp16: bool = False) -> Any:
    """The QDQ ``onnx.ModelProto`` of the quantized ``graph`` (see the module).

    Raises:
        OnnxExportError: an op (or a form of one) the QDQ lowering cannot express (the
            message names it), bad names, ``fp16``, or with ``dynamic_batch`` an op
            through which the batch cannot be followed (named).
    """
    import onnx

    if fp16:
        raise OnnxExportError("fp16 (--fp16): the graph is quantized (it computes in "
                              "int8); export it without fp16")
    ins = _names(input_names, graph.inputs, "input names", lambda k, v: f"input_{k}")
    outs = _names(output_names, graph.outputs, "output names", lambda k, v: f"output_{k}")
    if set(ins) & set(outs):
        raise OnnxExportError(f"output names {sorted(set(ins) & set(outs))} are also input "
                              "names")
    graph = graph.copy()  # constant chains folded (a traced module's bias TypeCvt)
    run_passes(graph, ["fold_constants"])
    try:
        model = trace_qdq(graph, shift=False, int32_bias=True,
                          batch=_batch_dims if dynamic_batch else None).model
    except Int8Unsupported as exc:
        raise OnnxExportError(f"cannot export the quantized graph as QDQ ONNX: {exc}") \
            from None
    _drop_identities(model.graph)
    _prune(model.graph)
    add_fusable_pairs(model.graph)
    _rename_edges(model.graph, [f"in{k}" for k in range(len(ins))], ins,
                  [f"out{k}" for k in range(len(outs))], outs)
    from .... import __version__

    model.opset_import[0].version = max(opset, MIN_QDQ_OPSET)
    model.ir_version = onnx.helper.find_min_ir_version_for(list(model.opset_import))
    model.producer_name, model.producer_version = "mge", __version__
    model.graph.name = "mge"
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # noqa: BLE001 - any checker failure is an exporter bug
        raise OnnxExportError(f"internal error: the exported QDQ model fails onnx.checker: "
                              f"{exc}") from exc
    return model


def _batch_dims(graph: Graph) -> BatchDims:
    """The batch dim of each var of the lowered ``graph`` (``dynamic_batch``).

    Raises:
        OnnxExportError: the inputs' batch sizes differ, or ops the batch cannot be
            followed through (each named with the reason).
    """
    try:
        dims, blocked = batch_axes(graph, graph.ops(), {})
    except ValueError as exc:
        raise OnnxExportError(str(exc)) from None
    if blocked:
        nodes = {n.id: n for n in graph.ops()}
        raise OnnxExportError("dynamic_batch (--dynamic-batch): the batch size of the "
                              "quantized graph cannot stay free: " + "; ".join(
                                  f"{nodes[k].type} {nodes[k].name or k}: {why}"
                                  for k, why in blocked.items()))
    return dims


def _drop_identities(g: Any) -> None:
    """Remove the lowering's ``Identity`` nodes (where a var keeps its predecessor's
    value); those writing a graph output stay."""
    keep = {o.name for o in g.output}
    alias: dict[str, str] = {}
    nodes = []
    for node in g.node:
        ins = [alias.get(i, i) for i in node.input]
        if node.op_type == "Identity" and node.output[0] not in keep:
            alias[node.output[0]] = ins[0]
            continue
        del node.input[:]
        node.input.extend(ins)
        nodes.append(node)
    del g.node[:]
    g.node.extend(nodes)


def _prune(g: Any) -> None:
    """Remove the nodes and initializers no graph output depends on (the lowering leaves
    a few: the constant of a ``QMIN``/``QMAX`` that changes nothing)."""
    needed = {o.name for o in g.output}
    live = []
    for node in reversed(g.node):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(node.input)
    del g.node[:]
    g.node.extend(reversed(live))
    inits = [t for t in g.initializer if t.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)


def _rename_edges(g: Any, old_ins: list[str], new_ins: list[str], old_outs: list[str],
                  new_outs: list[str]) -> None:
    """Give the graph inputs and outputs their names; an inner value already holding one
    of the new names is renamed out of the way first."""
    wanted = dict(zip(old_ins + old_outs, new_ins + new_outs, strict=True))
    taken = {n for node in g.node for n in (*node.input, *node.output)} | \
        {t.name for t in g.initializer}
    clashes = (set(wanted.values()) & taken) - set(wanted)
    k = 0
    for name in sorted(clashes):
        while f"{name}__{k}" in taken or f"{name}__{k}" in wanted.values():
            k += 1
        wanted[name] = f"{name}__{k}"
        taken.add(wanted[name])

    def rename(names: Any) -> None:
        for i, n in enumerate(names):
            names[i] = wanted.get(n, n)

    for node in g.node:
        rename(node.input)
        rename(node.output)
    for t in g.initializer:
        t.name = wanted.get(t.name, t.name)
    for v in (*g.input, *g.output):
        v.name = wanted.get(v.name, v.name)


__all__ = ["MIN_QDQ_OPSET", "export_quantized", "is_quantized"]
