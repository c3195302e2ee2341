"""One function per compute op of a QDQ graph: its ``mge.qdq`` replacement (a
:class:`~.qdq_match.Match`) or why it stays emulated (see :mod:`.qdq_graph`).

Each reads its node's reals through :meth:`QdqGraph.qvalue` (the first input's is known
quantized when it is called) and its output's quantization through
:meth:`QdqGraph.tail`.

Example:
    >>> PATTERNS["Conv"](g, conv_node).node.op_type   # doctest: +SKIP
    'QdqConvBias'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .qdq_match import (
    DOMAIN,
    GRID_OPS,
    SAME_SCALE_OPS,
    Match,
    QdqGraph,
    attribute_values,
    divided,
    make_node,
    rounded_codes,
)

#: the op names in this module's strings are ONNX's (and the ``mge.qdq`` domain's)
OP_VOCABULARY = "onnx"

Pattern = Callable[[QdqGraph, Any], "Match | str | None"]
PATTERNS: dict[str, Pattern] = {}


def _pattern(*op_types: str) -> Callable[[Pattern], Pattern]:
    def deco(fn: Pattern) -> Pattern:
        PATTERNS.update(dict.fromkeys(op_types, fn))
        return fn
    return deco


def _what(node: Any) -> str:
    return f"{node.op_type} {node.name or node.output[0]!r}"


def _matched(node: Any, new: Any, tail: tuple[Any, list[Any], float],
             g: QdqGraph) -> Match:
    act, qnodes, _ = tail
    new.output[:] = [g.claim(qnodes)]
    acts = [g.readers[node.output[0]][0]] if act is not None else []
    return Match(new, [node, *acts, *qnodes])


def _scale_of(g: QdqGraph, reals: str) -> float:
    return g.scales[g.reals[reals]]


@_pattern("Conv")
def _conv(g: QdqGraph, node: Any) -> Match | str:
    what = _what(node)
    x = g.qvalue(node.input[0])
    weight = g.weight(node.input[1], f"{what}: weight")
    if isinstance(weight, str):
        return weight
    codes, w_scale = weight
    if codes.ndim != 4:
        return f"{what}: a {codes.ndim - 2}-d convolution (MegEngine's quantized ConvBias " \
               "is 2-d)"
    x_scale = _scale_of(g, node.input[0])
    bias = g.bias(node.input[2] if len(node.input) > 2 else "", x_scale * w_scale,
                  f"{what}: bias")
    if isinstance(bias, str):
        return bias
    tail = g.tail(node.output[0], relu=True)
    if isinstance(tail, str):
        return f"{what}: {tail}"
    inputs = [x, g.const(f"{node.input[1]}_codes", codes)]
    if bias is not None:
        inputs.append(g.const(f"{node.input[2]}_codes", bias.reshape(-1)))
    new = make_node("QdqConvBias", inputs, ["?"], node.name, domain=DOMAIN,
                           mode=tail[0] or "IDENTITY", scale=tail[2], w_scale=w_scale,
                           b_scale=np.float32(x_scale * w_scale))
    new.attribute.extend(node.attribute)
    return _matched(node, new, tail, g)


@_pattern("Gemm", "MatMul")
def _linear(g: QdqGraph, node: Any) -> Match | str:
    what = _what(node)
    attrs = attribute_values(node)
    if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or \
            attrs.get("beta", 1.0) != 1.0:
        return f"{what}: transA, alpha or beta other than Gemm's defaults"
    weight = g.weight(node.input[1], f"{what}: weight")
    if isinstance(weight, str):
        return weight
    codes, w_scale = weight
    if codes.ndim != 2:
        return f"{what}: a {codes.ndim}-d weight (MegEngine's int8 MatrixMul is 2-d)"
    x_shape = g.shapes.get(node.input[0])
    if x_shape is not None and len(x_shape) != 2:
        return f"{what}: a {len(x_shape)}-d input (MegEngine's int8 MatrixMul is 2-d)"
    if not (node.op_type == "Gemm" and attrs.get("transB", 0)):
        codes = np.ascontiguousarray(codes.T)  # [out, in], as F.linear reads it
    x_scale = _scale_of(g, node.input[0])
    bias = g.bias(node.input[2] if len(node.input) > 2 else "", x_scale * w_scale,
                  f"{what}: bias")
    if isinstance(bias, str):
        return bias
    out, bias_add = node.output[0], _bias_add(g, node.output[0])
    if bias is None and bias_add is not None:  # MatMul -> Add(constant bias)
        bias = g.bias(next(i for i in bias_add.input if i != out), x_scale * w_scale,
                      f"{what}: bias")
        if isinstance(bias, str):
            return bias
        out = bias_add.output[0]
    tail = g.tail(out, relu=True)
    if isinstance(tail, str):
        return f"{what}: {tail}"
    inputs = [g.qvalue(node.input[0]), g.const(f"{node.input[1]}_codes", codes)]
    if bias is not None:
        inputs.append(g.const(f"{node.name or node.output[0]}_bias_codes", np.broadcast_to(
            bias, (codes.shape[0],)).astype(np.int32)))
    new = make_node("QdqLinear", inputs, ["?"], node.name, domain=DOMAIN,
                           mode=tail[0] or "IDENTITY", scale=tail[2], w_scale=w_scale,
                           b_scale=np.float32(x_scale * w_scale))
    if out == node.output[0]:
        return _matched(node, new, tail, g)
    match = _matched(bias_add, new, tail, g)
    match.consumed.append(node)
    return match


def _bias_add(g: QdqGraph, out: str) -> Any:
    """The ``Add`` of a constant that alone reads ``out``, or None."""
    readers = g.readers.get(out, [])
    if len(readers) != 1 or readers[0].op_type != "Add" or out in g.graph_outputs:
        return None
    other = [i for i in readers[0].input if i != out]
    return readers[0] if len(other) == 1 and other[0] in g.consts else None


@_pattern("Add")
def _add(g: QdqGraph, node: Any) -> Match | str:
    what = _what(node)
    operands = [g.qvalue(i) for i in node.input]
    if None in operands:
        return f"{what}: operand {node.input[operands.index(None)]!r} is not quantized"
    tail = g.tail(node.output[0], relu=True)
    if isinstance(tail, str):
        return f"{what}: {tail}"
    mode = "QFUSE_ADD_RELU" if tail[0] else "QADD"
    new = make_node("QdqAdd", operands, ["?"], node.name, domain=DOMAIN, mode=mode,
                           scale=tail[2])
    return _matched(node, new, tail, g)


@_pattern("Relu", "Clip")
def _relu(g: QdqGraph, node: Any) -> Match | None:
    tail = g.tail(node.output[0], relu=False)
    if isinstance(tail, str) or tail[2] != _scale_of(g, node.input[0]) or \
            not g.relu_like(node, tail[2]):
        return None  # in float, between a TypeCvt and a QuantizeLinear
    new = make_node("QdqRelu", [g.qvalue(node.input[0])], ["?"], node.name,
                           domain=DOMAIN, scale=tail[2], mode="QRELU")
    return _matched(node, new, tail, g)


@_pattern(*SAME_SCALE_OPS)
def _same_scale(g: QdqGraph, node: Any) -> Match | None:
    scale = _scale_of(g, node.input[0])
    if node.op_type == "Pad" and not _zero_pad(g, node):
        return None
    new = _on_codes(g, node, g.qvalue(node.input[0]))
    tail = g.tail(node.output[0], relu=False)
    if new is None or not isinstance(tail, str) and tail[2] != scale:
        return None  # in float, between TypeCvts (a requantizing pool)
    if not isinstance(tail, str):
        return _matched(node, new, tail, g)
    if node.op_type not in GRID_OPS:
        return None  # an average of codes is no code: the float tail's
    # its values stay on the input's grid: codes, whose reals its readers read
    new.output[:] = [g.codes_of(node.output[0], scale)]
    reals = make_node("QdqDequantize", [new.output[0]], [node.output[0]], domain=DOMAIN)
    return Match(new, [node], [reals])


def _on_codes(g: QdqGraph, node: Any, qvalue: str) -> Any:
    """``node`` reading the quantized value ``qvalue``: itself, or a
    ``GlobalAveragePool`` as the ``AveragePool`` over its input's static spatial shape
    (MegEngine's quantized pooling); None when that shape is unknown."""
    if node.op_type != "GlobalAveragePool":
        new = make_node(node.op_type, [qvalue, *node.input[1:]], ["?"], node.name)
        new.attribute.extend(node.attribute)
        return new
    shape = g.shapes.get(node.input[0])
    if shape is None or len(shape) != 4 or None in shape[2:]:
        return None
    return make_node("AveragePool", [qvalue], ["?"], node.name,
                            kernel_shape=list(shape[2:]), strides=list(shape[2:]))


def match_code_average(g: QdqGraph, q: Any) -> Match | None:
    """``mge_to_onnx``'s form of MegEngine's quantized average pooling, the pool of
    the codes rounded as MegEngine rounds (``DQ -> Div(s) -> Round -> pool -> Abs, Add,
    Floor, <sign>, Mul, Mul(s) -> Q``, one scale ``s``): the pool on the codes."""
    scale = g.activation_q(q)
    if isinstance(scale, str):
        return None
    pooled = rounded_codes(g, q.input[0], scale)
    pool = None if pooled is None else g.producer.get(pooled)
    if pool is None or pool.op_type not in ("AveragePool", "GlobalAveragePool"):
        return None
    rnd = g.producer.get(pool.input[0])
    reals = rnd is not None and rnd.op_type == "Round" and divided(g, rnd.input[0], scale)
    qvalue = g.qvalue(reals) if reals else None
    if qvalue is None or g.scales[g.reals[reals]] != scale:
        return None
    new = _on_codes(g, pool, qvalue)
    if new is None:
        return None
    new.output[:] = [q.output[0]]
    return Match(new, [q])


def _zero_pad(g: QdqGraph, node: Any) -> bool:
    """Whether the ``Pad`` ``node`` pads with zeros (code 0) in constant mode."""
    mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "constant")
    value = node.input[2] if len(node.input) > 2 else ""
    return mode == "constant" and (not value or value in g.consts and
                                   not np.any(g.consts[value]))


def match_compute(g: QdqGraph, node: Any) -> Match | str | None:
    """The pattern of ``node`` (see :mod:`.qdq_graph`), why a QDQ compute node stays
    emulated (a reason), or None (no quantized input, or float between TypeCvts)."""
    pattern = PATTERNS.get(node.op_type)
    if pattern is None or not node.input or g.qvalue(node.input[0]) is None:
        return None
    return pattern(g, node)


__all__ = ["PATTERNS", "match_code_average", "match_compute"]
