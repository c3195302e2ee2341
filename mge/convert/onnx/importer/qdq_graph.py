"""QDQ ONNX models rewritten into MegEngine's quantized graph form (``from_onnx(int8=True)``).

A QDQ model (onnxruntime's ``quantize_static``, mge's own ``mge_to_onnx`` of an int8
``.mge``) computes in float32 between ``QuantizeLinear`` -> ``DequantizeLinear`` pairs.
:func:`rewrite_qdq` turns the pairs and the ops between them into ops of the
``mge.qdq`` domain (:mod:`.qdq_ops`) that compute on quantized tensors, as
``mge.quantization.quantize`` + ``jit.trace(...).dump()`` write an int8 network:

* an 8-bit ``QuantizeLinear`` (int8 codes, zero point 0, one scale) makes a ``qint8``
  value: ``QdqQuantize`` (``TypeCvt``) of a float input, or absorbed by the pattern
  that computes the value;
* ``DQ(x) [+ DQ(int8 weight) + DQ(int32 bias)] -> Conv -> [Relu | Clip(0, hi)] -> Q``:
  ``QdqConvBias`` (a quantized ``ConvBias`` with its nonlinearity); ``Gemm`` (``transB``)
  and ``MatMul`` with a constant weight: ``QdqLinear`` (an int8 ``MatrixMul``);
* ``DQ(a) + DQ(b) -> Add -> [Relu] -> Q``: ``QdqAdd`` (``ElemwiseMultiType``
  ``QADD``/``QFUSE_ADD_RELU``); ``DQ -> Relu/Clip -> Q`` at one scale: fused into the
  ``ConvBias``/``QADD`` before it, or ``QdqRelu``;
* ``DQ -> MaxPool/AveragePool/GlobalAveragePool/Reshape/Flatten/Transpose/Squeeze/
  Unsqueeze/Pad (zeros) -> Q`` at the input's scale: the op itself on the quantized value
  (a global average pool as MegEngine's quantized average pooling); the ops that keep
  values on their input's grid (not the averages) run on the codes with no ``Q`` after
  them too, their float readers reading a ``QdqDequantize``;
* ``mge_to_onnx``'s own forms: MegEngine's rounding written as float ops before a
  ``QuantizeLinear``, its code-average pooling, a linear layer's weight as a
  ``Transpose`` of a dequantized constant and its bias as an ``Add`` after the ``MatMul``;
* a ``DequantizeLinear`` read by anything else: ``QdqDequantize`` (``TypeCvt`` to
  float32), so unmatched ops (softmax, concat, pooling that requantizes) compute in float
  between a dequantization and a quantization, as MegEngine's quantized ``Concat`` does.

What does not match stays the exact emulation of the default import (a mixed graph);
:class:`QdqReport` counts the quantized ops and says why each refused pair stays
emulated (uint8 activations, nonzero zero points, per-channel scales...). Rounding is
MegEngine's (ties away from zero), not ONNX's (ties to even): results may differ from
onnxruntime by one step at ties.

Example:
    >>> model, report = rewrite_qdq(onnx.load("mobilenet_v2.qdq.onnx"))  # doctest: +SKIP
    >>> print(report)                                                      # doctest: +SKIP
    quantized: 10 QdqAdd, 53 QdqConvBias, 3 QdqDequantize, 3 QdqQuantize, 1 Reshape
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from .qdq_match import DOMAIN, QdqGraph, attribute_values, make_node
from .qdq_patterns import match_code_average, match_compute

#: the op names in this module's strings are ONNX's (and the ``mge.qdq`` domain's)
OP_VOCABULARY = "onnx"
_SHOWN = 3  # refusals :class:`QdqReport` names in its text (it keeps them all)


@dataclasses.dataclass
class QdqReport:
    """What :func:`rewrite_qdq` did: quantized ops made (by ``mge.qdq`` type, or the
    ONNX type of an op run on the codes: ``MaxPool``, ``Reshape``...) and the reasons
    patterns stayed emulated.

    Example:
        >>> str(QdqReport(collections.Counter(QdqConvBias=2), ["Q 'x': uint8"]))
        "quantized: 2 QdqConvBias; kept emulated: 1 (Q 'x': uint8)"
    """

    quantized: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    refused: list[str] = dataclasses.field(default_factory=list)

    def __str__(self) -> str:
        made = ", ".join(f"{n} {k}" for k, n in sorted(self.quantized.items())) or "none"
        text = f"quantized: {made}"
        if self.refused:
            more = len(self.refused) - _SHOWN
            text += f"; kept emulated: {len(self.refused)} ({'; '.join(self.refused[:_SHOWN])}" \
                    + (f"; and {more} more)" if more > 0 else ")")
        return text


def rewrite_qdq(model: Any) -> tuple[Any, QdqReport]:
    """A copy of the ONNX ``model`` with its QDQ patterns as ``mge.qdq`` ops, and the
    report (see the module). Shape inference runs on the original first: its shapes
    stay in the copy's ``value_info``."""
    import onnx
    from onnx import helper

    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shapes help (Reshape), the rewrite does not need them
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        model = copy
    g = QdqGraph(model.graph)
    report = QdqReport()
    emitted: list[Any] = []
    consumed: set[int] = set()
    quantized: dict[tuple[str, float], str] = {}  # (input, scale) -> its first Q's output
    on_codes: set[int] = set()  # the nodes patterns made
    original: dict[int, Any] = {}  # QdqQuantize/QdqDequantize -> the node it replaces
    for node in g.nodes:
        if id(node) in consumed:
            continue
        if node.op_type == "QuantizeLinear" and node.output[0] in g.scales:
            first = quantized.setdefault((node.input[0], g.scales[node.output[0]]),
                                         node.output[0])
            if first != node.output[0]:  # a copy (``mge_to_onnx`` writes one per reader)
                g.alias[node.output[0]] = first
                continue
        match = match_compute(g, node)
        if isinstance(match, str):
            report.refused.append(match)
            emitted.append(node)
            continue
        if match is None and node.op_type == "QuantizeLinear":
            match = match_code_average(g, node)
        if match is not None:
            consumed.update(id(n) for n in match.consumed)
            emitted += [match.node, *match.after]
            on_codes.add(id(match.node))
            continue
        edge = _quant_edge(g, node, report)
        emitted.append(edge)
        if edge is not node:
            original[id(edge)] = node
    for node in emitted:
        node.input[:] = [g.alias.get(i, i) for i in node.input]
    emitted = _unquantized_pairs(emitted, original)
    nodes = _fuse_relus(g, _prune(emitted, {o.name for o in model.graph.output}))
    for n in nodes:
        if n.domain == DOMAIN or id(n) in on_codes:
            report.quantized[n.op_type] += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    g.finish(model.graph)
    if not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    return model, report


def _quant_edge(g: QdqGraph, node: Any, report: QdqReport) -> Any:
    """A Q or DQ node no pattern took: ``QdqQuantize`` / ``QdqDequantize`` where its
    value is quantized, else the node itself (its refusal reported)."""
    if node.op_type == "QuantizeLinear":
        scale = g.activation_q(node)
        if isinstance(scale, str):
            report.refused.append(scale)
            return node
        return make_node("QdqQuantize", [g.float_source(node.input[0], scale)],
                         [node.output[0]], domain=DOMAIN, scale=scale)
    if node.op_type == "DequantizeLinear" and node.output[0] in g.reals:
        return make_node("QdqDequantize", [g.qvalue(node.output[0])], [node.output[0]],
                         domain=DOMAIN)
    return node


def _unquantized_pairs(nodes: list[Any], original: dict[int, Any]) -> list[Any]:
    """``nodes`` with each ``QdqQuantize`` of a float value that only ``QdqDequantize``
    nodes read, and those, back to the original Q/DQ nodes: no quantized op computes
    on that value, and the emulation keeps ONNX's rounding (ties to even)."""
    readers: dict[str, list[Any]] = {}
    for n in nodes:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    restore: set[int] = set()
    for n in nodes:
        if n.op_type == "QdqQuantize" and n.domain == DOMAIN and \
                n.input[0] == original[id(n)].input[0]:
            dqs = readers.get(n.output[0], [])
            if all(r.op_type == "QdqDequantize" and r.domain == DOMAIN for r in dqs):
                restore.update(id(m) for m in (n, *dqs))
    return [original[id(n)] if id(n) in restore else n for n in nodes]


def _fuse_relus(g: QdqGraph, nodes: list[Any]) -> list[Any]:
    """``QdqRelu`` of a ``QdqConvBias`` (identity) or ``QdqAdd`` (``QADD``) output at
    the same scale, read by nothing else: the producer's nonlinearity becomes ``RELU``."""
    producer = {o: n for n in nodes for o in n.output}
    readers = collections.Counter(i for n in nodes for i in n.input)
    outputs = g.graph_outputs
    kept = []
    for n in nodes:
        src = producer.get(n.input[0]) if n.input else None
        if n.op_type == "QdqRelu" and n.domain == DOMAIN and src is not None and \
                src.domain == DOMAIN and readers[n.input[0]] == 1 and \
                n.input[0] not in outputs and _attr(src, "scale") == _attr(n, "scale"):
            mode = _attr(src, "mode")
            fused = {"IDENTITY": "RELU", "QADD": "QFUSE_ADD_RELU"}.get(mode)
            if fused is not None and src.op_type in ("QdqConvBias", "QdqAdd"):
                _set_attr(src, "mode", fused)
                src.output[0] = n.output[0]
                continue
        kept.append(n)
    return kept


def _attr(node: Any, name: str) -> Any:
    return attribute_values(node).get(name)


def _set_attr(node: Any, name: str, value: str) -> None:
    for a in node.attribute:
        if a.name == name:
            a.s = value.encode()


def _prune(nodes: list[Any], outputs: set[str]) -> list[Any]:
    """``nodes`` less those no graph output depends on."""
    needed = set(outputs)
    live = []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            live.append(n)
            needed.update(i for i in n.input if i)
    return list(reversed(live))


__all__ = ["DOMAIN", "QdqReport", "rewrite_qdq"]
