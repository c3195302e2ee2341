"""Per-layer fidelity of the int8 ONNX lowerings against MegEngine's exact int8 kernels.

Every 8-bit quantized var of a graph is compared code by code between the exact numpy
kernels (bit for bit MegEngine Lite's) and a lowering run by its engine, two ways:

* ``"isolated"``: every edge between two lowered ops is cut and fed with the exact
  kernels' value of that var (as the lowering carries it: codes ``q + offset`` for
  :mod:`.int8_onnx`, reals behind a ``QuantizeLinear -> DequantizeLinear`` pair for
  :mod:`.int8_qdq`, so that OpenVINO still runs the op after the cut on integer kernels):
  each op's own error, none carried in;
* ``"accumulated"``: the whole model run on the graph's input, every var an output.

:func:`layer_report` gives, per var, how many codes differ, by how much at most, and how
many of the differing ones sit within ``1e-3`` of a rounding tie of the exact requantized
value (a conv's ``(acc * scale_x * scale_w + bias) / scale_y`` in float64): rounding
ties differently (half to even, or another float factor) explains those.

Example:
    >>> rows = layer_report(graph, [x], run_onnxruntime, "onnx", "isolated")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..dtype import code_zero_point, get_scale, is_quantize
from ..graph.ir import ConstOp, Graph, Host2DeviceCopy, VarNode
from ..ops.conv import ConvBiasForward
from .int8_onnx import Lowered, trace_lowering
from .int8_qdq import trace_qdq

#: the views of :func:`layer_report`
VIEWS = ("isolated", "quantized-input", "accumulated")
#: runs an ONNX model: ``(model, feeds by input name) -> outputs by name``
Runner = Callable[[Any, dict[str, np.ndarray]], dict[str, np.ndarray]]
#: how near (in output steps) to a half the exact value of a differing code must be
#: to count as a tie
TIE = 1e-3


class LayerRow(NamedTuple):
    """One 8-bit var (or float graph output): its producing op, size, codes (values)
    differing, the largest difference, how many of the differing codes are near a
    rounding tie; ``codes``: whether the differences are in codes (else float values)."""

    var: str
    op: str
    size: int
    differ: int
    max_diff: float
    near_tie: int
    codes: bool = True


def exact_values(graph: Graph, feeds: Sequence[np.ndarray]) -> dict[int, np.ndarray]:
    """Every var's value on the exact numpy kernels, by var id."""
    values = {var.id: np.asarray(x).astype(var.dtype) for var, x in zip(graph.inputs, feeds,
                                                                        strict=True)}
    for node in graph.ops():
        if isinstance(node.op, Host2DeviceCopy):
            continue
        if isinstance(node.op, ConstOp):
            values[node.outputs[0].id] = np.asarray(node.op.value)
            continue
        kernel = type(node.op).kernels["numpy"]
        out = kernel(node.op, *[values[v.id] for v in node.inputs])
        outs = out if isinstance(out, (list, tuple)) else [out]
        for var, value in zip(node.outputs, outs, strict=True):
            values[var.id] = np.asarray(value).astype(var.dtype, copy=False)
    return values


def _eight_bit(var: VarNode) -> bool:
    return is_quantize(var.dtype) and var.dtype.itemsize == 1


def _lower(graph: Graph, kind: str) -> Lowered:
    if kind == "onnx":
        return trace_lowering(graph)
    if kind == "qdq":
        return trace_qdq(graph)
    raise ValueError(f"int8 layers: no lowering {kind!r} (have onnx, qdq)")


def _carried(lowered: Lowered, kind: str, var: VarNode, codes: np.ndarray) -> np.ndarray:
    """The exact ``codes`` of ``var`` as the lowering carries them."""
    q = codes.astype(np.int64)
    if kind == "qdq":
        real = lowered.low.real(q, var) if is_quantize(var.dtype) \
            else np.asarray(codes, np.float32)
        return np.maximum(real, 0) if var.id in lowered.low.relu_first else real
    if not is_quantize(var.dtype):
        return np.asarray(codes)
    storage, offset = lowered.low.storage(var)
    if lowered.low.offsets.get(var.id) == 0:
        q = np.maximum(q, 0)  # a conv's output carried relu'd at zero point 0
    return (q + offset).astype(storage)


def _codes(lowered: Lowered, kind: str, var: VarNode, carried: np.ndarray) -> np.ndarray:
    """``var``'s int8 codes from what the lowering carries (the inverse of :func:`_carried`)."""
    if kind == "qdq":
        q = np.rint(carried.astype(np.float64) / get_scale(var.dtype))
        return q.astype(np.int64) + code_zero_point(var.dtype)
    offset = lowered.low.storage(var)[1]
    q = carried.astype(np.int64) - offset
    return np.minimum(q, 127) if lowered.low.offsets.get(var.id) == 0 else q


def _cut(lowered: Lowered, kind: str, cuts: dict[str, VarNode]) -> Any:
    """A copy of the lowered model whose reads of the ``cuts`` names come from new graph
    inputs ``cut/<name>`` (behind a Q/DQ pair at the var's parameters for ``"qdq"``)."""
    import onnx
    from onnx import helper

    model = onnx.ModelProto()
    model.CopyFrom(lowered.model)
    graph, low = model.graph, lowered.low
    known, extra, made = len(low.inits), [], low.nodes
    for name, var in cuts.items():
        feed = f"cut/{name}"
        dtype = np.dtype(np.float32) if kind == "qdq" else low.storage(var)[0]
        graph.input.append(helper.make_tensor_value_info(
            feed, helper.np_dtype_to_tensor_dtype(dtype), var.shape))
        src = feed
        if kind == "qdq" and _eight_bit(var):
            low.nodes = []
            src = low.fq(feed, var)  # the consumer still reads a FakeQuantize
            extra += low.nodes
        for node in graph.node:
            node.input[:] = [src if i == name else i for i in node.input]
    low.nodes = made
    graph.initializer.extend(low.inits[known:])
    nodes = list(extra) + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def _with_outputs(model: Any, names: Sequence[str]) -> Any:
    import onnx
    from onnx import helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    have = {o.name for o in out.graph.output}
    out.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names
                            if n not in have)
    return out


def _near_ties(values: dict[int, np.ndarray], node: Any, var: VarNode) -> np.ndarray | None:
    """For a quantized conv's output: whether each exact requantized value lies within
    :data:`TIE` of a half (float64), else None."""
    if not isinstance(node.op, ConvBiasForward) or not is_quantize(node.inputs[0].dtype):
        return None
    from ..ops.quantized.numpy_kernels import _conv_accumulate

    x, w, *rest = node.inputs
    acc = _conv_accumulate(node.op, values[x.id].astype(np.float64),
                           values[w.id].astype(np.float64))
    real = acc * get_scale(x.dtype) * get_scale(w.dtype)
    if rest:
        real = real + values[rest[0].id].astype(np.float64) * get_scale(rest[0].dtype)
    r = real / get_scale(var.dtype)
    return np.abs(np.abs(r - np.floor(r)) - 0.5) < TIE


def layer_report(graph: Graph, feeds: Sequence[np.ndarray], run: Runner, kind: str,
                 view: str) -> list[LayerRow]:
    """One :class:`LayerRow` per 8-bit var that the ``kind`` lowering (``"onnx"`` or
    ``"qdq"``) of ``graph`` computes, ``view`` ``"isolated"`` or ``"accumulated"``
    (see the module), against the exact kernels on ``feeds``."""
    lowered = _lower(graph, kind)
    graph = lowered.graph
    values = exact_values(graph, feeds)
    produced = {o for n in lowered.model.graph.node for o in n.output}
    read = {i for n in lowered.model.graph.node for i in n.input}
    producer = {v.id: node for node in graph.ops() for v in node.outputs}
    last = {lowered.names.get(v.id): v for node in graph.ops() for v in node.outputs
            if not v.is_const}  # a name several vars share (an alias) holds the last's value
    vars_ = [v for name, v in last.items() if name in produced]
    model = lowered.model
    feed = {f"in{k}": np.asarray(x) for k, x in enumerate(feeds)}
    if view in ("isolated", "quantized-input"):
        first = {v.id for node in graph.ops() if any(i in graph.inputs for i in node.inputs)
                 for v in node.outputs}
        cuts = {lowered.names[v.id]: v for v in vars_ if lowered.names[v.id] in read
                and (view == "isolated" or v.id in first)}
        model = _cut(lowered, kind, cuts)
        feed.update({f"cut/{n}": _carried(lowered, kind, v, values[v.id])
                     for n, v in cuts.items()})
    elif view != "accumulated":
        raise ValueError(f"int8 layers: no view {view!r} (have {', '.join(VIEWS)})")
    shown = [v for v in vars_ if _eight_bit(v) or v.id in {o.id for o in graph.outputs}]
    got = run(_with_outputs(model, [lowered.names[v.id] for v in shown]), feed)
    rows = []
    for var in shown:
        node = producer[var.id]
        if not _eight_bit(var):  # a float output: the largest difference of the values
            diff = np.abs(got[lowered.names[var.id]] - values[var.id])
            rows.append(LayerRow(var.name, node.op.type_name, int(diff.size),
                                 int((diff > 0).sum()), float(diff.max(initial=0)), 0,
                                 codes=False))
            continue
        want = values[var.id].astype(np.int64)
        have = _codes(lowered, kind, var, got[lowered.names[var.id]])
        if lowered.low.offsets.get(var.id) == 0:  # carried relu'd (and saturated)
            want = np.clip(want, 0, 127)
        elif kind == "qdq" and var.id in lowered.low.relu_first:
            want = np.maximum(want, 0)
        diff = np.abs(have - want)
        ties = _near_ties(values, node, var)
        near = 0 if ties is None else int((ties & (diff > 0)).sum())
        rows.append(LayerRow(var.name, node.op.type_name, int(diff.size),
                             int((diff > 0).sum()), int(diff.max(initial=0)), near))
    return rows


__all__ = ["TIE", "LayerRow", "Runner", "exact_values", "layer_report"]
