"""What the patterns of :mod:`.qdq_patterns` read in an ONNX graph: its quantized values,
their reals, dequantized constant weights and biases, and where a result is quantized.

A *quantized value* is the output of an activation ``QuantizeLinear`` with one float32
scale and an int8 zero point of 0 (MegEngine's symmetric ``qint8``); its *reals* are the
output of a ``DequantizeLinear`` of it at the same scale and zero point. A pattern reads
reals (and constant int8 weights), and its result goes (after an optional relu) only to
``QuantizeLinear`` nodes of one scale: the pattern's op writes their quantized value.

Example:
    >>> g = QdqGraph(model.graph)                 # doctest: +SKIP
    >>> g.weight("W_1_DequantizeLinear_Output", "Conv weight")[1]  # doctest: +SKIP
    0.0355737...
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

#: the ONNX domain of the quantized ops (:mod:`.qdq_ops` converts them)
DOMAIN = "mge.qdq"
#: the op names in this module's strings are ONNX's (and the ``mge.qdq`` domain's)
OP_VOCABULARY = "onnx"
#: ops whose output values are input values (rearranged or selected, or a zero pad):
#: run on the codes
GRID_OPS = frozenset({"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                      "Pad"})
#: ops run on the codes when their output is quantized at their input's scale
SAME_SCALE_OPS = GRID_OPS | {"AveragePool", "GlobalAveragePool"}
_QMAX = 127  # qint8's largest code
#: what the rounding chain adds (:func:`rounding_steps`): the float32 just below 0.5
#: (the op home's ``round_half_away``), or 0.5 (the code-average pooling's, of averages
#: of integer codes: no value within a float32 step below a half)
_HALVES = (float(np.nextafter(np.float32(0.5), np.float32(0))), 0.5)


@dataclasses.dataclass
class Match:
    """A pattern: the ``mge.qdq`` (or code-level) ``node`` replacing ``consumed``, and
    the nodes to emit after it."""

    node: Any
    consumed: list[Any]
    after: list[Any] = dataclasses.field(default_factory=list)


class QdqGraph:
    """An ONNX graph's constants, producers, readers and quantized values."""

    def __init__(self, graph: Any) -> None:
        from onnx import numpy_helper

        self.nodes = list(graph.node)
        self.consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.readers: dict[str, list[Any]] = {}
        for n in self.nodes:
            for i in dict.fromkeys(n.input):
                self.readers.setdefault(i, []).append(n)
        self.graph_outputs = {o.name for o in graph.output}
        self.shapes = {v.name: tuple(d.dim_value or None for d in
                                     v.type.tensor_type.shape.dim)
                       for v in (*graph.input, *graph.value_info)
                       if v.type.tensor_type.HasField("shape")}
        self.names = set(self.producer) | set(self.consts) | {i.name for i in graph.input}
        self.new_consts: list[tuple[str, np.ndarray]] = []
        #: quantized value -> the quantized value it equals (a Q copy of the same scale)
        self.alias: dict[str, str] = {}
        #: reals (DQ output) -> their quantized value
        self.reals: dict[str, str] = {}
        self.scales: dict[str, float] = {}  # quantized value -> scale
        for n in self.nodes:
            if n.op_type == "QuantizeLinear" and not isinstance(self.activation_q(n), str):
                self.scales[n.output[0]] = self.activation_q(n)
            elif n.op_type == "DequantizeLinear" and n.input[0] in self.scales and \
                    self._params(n) == self._params(self.producer[n.input[0]]):
                self.reals[n.output[0]] = n.input[0]

    # ------------------------------------------------------------------ values
    def qvalue(self, reals: str) -> str | None:
        """The quantized value whose reals ``reals`` are, or None."""
        q = self.reals.get(reals)
        return None if q is None else self.alias.get(q, q)

    def _params(self, node: Any) -> tuple[Any, ...]:
        return tuple(None if name not in self.consts else
                     (self.consts[name].dtype.str, self.consts[name].tobytes())
                     for name in node.input[1:])

    def scalar(self, name: str) -> float | None:
        """The value of a one-element float32 constant, or None."""
        v = self.consts.get(name)
        if v is None or v.dtype != np.float32 or v.size != 1:
            return None
        return float(v.reshape(()))

    def activation_q(self, q: Any) -> float | str:
        """The scale of activation ``QuantizeLinear`` ``q`` if it makes a ``qint8`` value,
        else why not."""
        out = q.output[0]
        what = f"tensor {out!r} (QuantizeLinear {q.name or out!r})"
        scale = self.scalar(q.input[1])
        if scale is None:
            return f"{what}: its scale is not one float32 constant (per-axis activation " \
                   "scales have no MegEngine dtype)"
        zp = self.consts.get(q.input[2]) if len(q.input) > 2 and q.input[2] else None
        if len(q.input) > 2 and q.input[2] and zp is None:
            return f"{what}: its zero point is computed at run time"
        if zp is None:  # ONNX's default: uint8, or the opset-21 attribute's type
            zp = np.zeros((), np.int8 if attribute_values(q).get("output_dtype") == 3 else
                          np.uint8)
        dtype = zp.dtype.name
        if dtype != "int8":
            return f"{what}: {dtype} with zero point {int(zp.flat[0])}" \
                   " (mge's quantized ConvBias takes qint8 data only, not quint8; " \
                   "quantize activations as int8, ActivationSymmetric)"
        if zp.size != 1 or int(zp.flat[0]) != 0:
            return f"{what}: int8 with zero point {zp.ravel().tolist()} (MegEngine's " \
                   "qint8 is symmetric: zero point 0)"
        if out in self.graph_outputs:
            return f"{what}: a graph output (its int8 codes are the model's result)"
        return scale

    def weight(self, name: str, what: str) -> tuple[np.ndarray, float] | str:
        """The int8 codes and the scale of a dequantized constant weight (through a
        ``Transpose`` of it and a Q/DQ pair of its own parameters, as ``mge_to_onnx``
        writes a linear layer's weight)."""
        node = self.producer.get(name)
        if node is not None and node.op_type == "Transpose":
            inner = self.weight(node.input[0], what)
            if isinstance(inner, str):
                return inner
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            return np.ascontiguousarray(np.transpose(inner[0], perm)), inner[1]
        if node is not None and node.op_type == "DequantizeLinear" and \
                node.input[0] not in self.consts:
            q = self.producer.get(node.input[0])
            if q is not None and q.op_type == "QuantizeLinear" and \
                    self._params(q) == self._params(node):
                inner = self.weight(q.input[0], what)
                if isinstance(inner, str) or inner[1] != self.scalar(q.input[1]):
                    return f"{what} {name!r} is requantized"
                return inner
        return self._dequantized_const(name, what)

    def _dequantized_const(self, name: str, what: str) -> tuple[np.ndarray, float] | str:
        dq = self.producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in self.consts:
            return f"{what} {name!r} is not a DequantizeLinear of a constant"
        codes = self.consts[dq.input[0]]
        scale = self.consts.get(dq.input[1])
        zp = self.consts.get(dq.input[2]) if len(dq.input) > 2 and dq.input[2] else \
            np.zeros((), np.uint8)
        if codes.dtype != np.int8:
            return f"{what} {name!r}: {codes.dtype} codes (qint8 weights are int8)"
        if scale is None or scale.dtype != np.float32 or len(set(scale.ravel().tolist())) != 1:
            return f"{what} {name!r}: per-channel scales (MegEngine's qint8 has one scale " \
                   "per tensor)"
        if zp is None or np.any(zp != 0):
            return f"{what} {name!r}: zero point {np.ravel(zp).tolist()} (qint8 is " \
                   "symmetric: zero point 0)"
        return codes, float(scale.ravel()[0])

    def bias(self, name: str, scale: float, what: str) -> np.ndarray | None | str:
        """A conv/linear bias as ``qint32`` codes at ``scale`` (input scale times weight
        scale): a dequantized int32 constant at that scale, or a float constant rounded
        (half away from zero, as MegEngine); None when absent."""
        if not name:
            return None
        if name in self.consts:
            real = self.consts[name].astype(np.float64) / np.float32(scale)
            return (np.sign(real) * np.floor(np.abs(real) + 0.5)).astype(np.int32)
        dq = self.producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in self.consts \
                or self.consts[dq.input[0]].dtype != np.int32:
            return f"{what} {name!r} is neither a constant nor a DequantizeLinear of int32 codes"
        given = self.scalar(dq.input[1])
        if given is None or not np.isclose(given, scale, rtol=1e-5, atol=0):
            return f"{what} {name!r}: scale {given} is not input scale x weight scale {scale}"
        return self.consts[dq.input[0]]

    def tail(self, out: str, relu: bool) -> tuple[str | None, list[Any], float] | str:
        """Where ``out`` goes: ``(None | "RELU", the QuantizeLinear nodes, their scale)``;
        MegEngine's rounding at that scale written as float ops first where ``mge_to_onnx``
        writes a requantizing ``TypeCvt`` so (:meth:`rounded`), then a Relu (or a Clip the
        quantization saturates the same way) if ``relu``."""
        act, rounding = None, self.rounded(out)
        if rounding is not None:
            out, rounded_at = rounding
        readers = self.readers.get(out, [])
        if relu and len(readers) == 1 and out not in self.graph_outputs and \
                readers[0].op_type in ("Relu", "Clip"):
            act, out = readers[0], readers[0].output[0]
            readers = self.readers.get(out, [])
        if not readers or out in self.graph_outputs or \
                any(r.op_type != "QuantizeLinear" or r.input[0] != out for r in readers):
            return f"tensor {out!r} is not quantized by QuantizeLinear alone"
        scales = {self.scales.get(r.output[0]) for r in readers}
        if len(scales) != 1 or None in scales:
            return f"tensor {out!r}: its QuantizeLinear nodes do not make one qint8 value"
        scale = scales.pop()
        if rounding is not None and rounded_at != scale:
            return f"tensor {out!r}: rounded to the codes of scale {rounded_at}, quantized " \
                   f"at {scale}"
        if act is not None and not self.relu_like(act, scale):
            return f"{act.op_type} {act.name!r} bounds beyond a relu at scale {scale}"
        return ("RELU" if act is not None else None), readers, scale

    def rounded(self, out: str) -> tuple[str, float] | None:
        """``(the reals, the scale)`` of MegEngine's rounding of ``out`` to the codes of a
        scale, written as float ops (``Div(s), Abs, Add, Floor, <sign>, Mul, Mul(s)``:
        ``mge_to_onnx``'s ``TypeCvt`` from ``QuantizedS32`` or another scale, before its
        ``QuantizeLinear``) when only that chain reads ``out`` and each of its steps,
        else None."""
        div = self._sole_reader(out)
        scale = None if div is None or div.op_type != "Div" else self.scalar(div.input[1])
        if scale is None or div.input[0] != out:
            return None
        t = div.output[0]
        outer = next((r for r in self.readers.get(t, []) if r.op_type == "Abs"), None)
        for _ in range(4):  # Abs -> Add -> Floor -> Mul (the sign) -> Mul (the scale)
            outer = outer and self._sole_reader(outer.output[0])
        steps = outer and rounding_steps(self, outer.output[0], scale)
        if not steps or steps[-1].input[0] != t or len(self.readers[t]) != 2 or \
                any(self._sole_reader(n.output[0]) is None for n in steps[1:]):
            return None
        return outer.output[0], scale

    def _sole_reader(self, name: str) -> Any:
        """The one node reading ``name`` where nothing else does (nor the graph's
        outputs), or None."""
        readers = self.readers.get(name, [])
        return readers[0] if len(readers) == 1 and name not in self.graph_outputs else None

    def relu_like(self, node: Any, scale: float) -> bool:
        """Whether ``node`` (Relu or Clip) quantized at ``scale`` equals a quantized relu:
        a Clip's lower bound is 0 and its upper one is at or beyond the largest code."""
        if node.op_type == "Relu":
            return True
        bounds = []
        for index, attr in ((1, "min"), (2, "max")):
            name = node.input[index] if len(node.input) > index else ""
            given = next((a.f for a in node.attribute if a.name == attr), None)
            bounds.append(self.consts.get(name) if name else given)
        lo, hi = bounds
        return lo is not None and float(lo) == 0.0 and \
            (hi is None or float(hi) / scale >= _QMAX - 0.5)

    def float_source(self, x: str, scale: float) -> str:
        """What a ``QdqQuantize`` at ``scale`` of ``x`` reads: the quantized value of
        reals (a requantization), the input of MegEngine's rounding written as float
        ops (``mge_to_onnx``'s ``Div, Abs, Add, Floor, <sign>, Mul, Mul``), else ``x``."""
        q = self.qvalue(x)
        if q is not None:
            return q
        t = rounded_codes(self, x, scale)
        return (t is not None and divided(self, t, scale)) or x

    def claim(self, qnodes: list[Any]) -> str:
        """The quantized value the ``QuantizeLinear`` nodes ``qnodes`` make (the others
        become its aliases)."""
        first = qnodes[0].output[0]
        for q in qnodes[1:]:
            self.alias[q.output[0]] = first
        return first

    def fresh(self, hint: str) -> str:
        """A value name no node, initializer or input uses yet."""
        name, k = hint, 0
        while name in self.names:
            k += 1
            name = f"{hint}_{k}"
        self.names.add(name)
        return name

    def const(self, hint: str, value: np.ndarray) -> str:
        """A new initializer holding ``value``; its name."""
        name = self.fresh(hint)
        self.new_consts.append((name, value))
        return name

    def codes_of(self, reals: str, scale: float) -> str:
        """A new quantized value at ``scale`` whose reals are ``reals`` (the output of an
        op run on codes that no ``QuantizeLinear`` quantizes)."""
        q = self.fresh(f"{reals}_codes")
        self.scales[q] = scale
        self.reals[reals] = q
        if reals in self.shapes:
            self.shapes[q] = self.shapes[reals]
        return q

    def finish(self, graph: Any) -> None:
        """Add the new initializers to ``graph`` and drop the element type of quantized
        values from its ``value_info`` (their dtype is ``qint8``)."""
        from onnx import numpy_helper

        graph.initializer.extend(numpy_helper.from_array(v, n) for n, v in self.new_consts)
        for info in graph.value_info:
            if info.name in self.scales:
                info.type.tensor_type.elem_type = 0


def make_node(op_type: str, inputs: list[str], outputs: list[str], name: str | None = None,
              **attrs: Any) -> Any:
    """``onnx.helper.make_node`` (onnx is imported where used: an optional dependency)."""
    from onnx import helper

    return helper.make_node(op_type, inputs, outputs, name, **attrs)


def attribute_values(node: Any) -> dict[str, Any]:
    """A node's attributes by name, decoded (strings as ``str``)."""
    from onnx import helper

    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}


def rounded_codes(g: QdqGraph, x: str, scale: float) -> str | None:
    """``t`` when ``x`` is ``floor(|t| + 0.49999997) * <sign of t> * scale`` (MegEngine's
    rounding of the codes ``t``, written as float ops by ``mge_to_onnx``; ``+ 0.5`` in
    its code-average pooling; the sign ``Where(Less(t, 0), -1, 1)``, or ``Sign(t)`` in
    files of mge before 2026-12), else None."""
    steps = rounding_steps(g, x, scale)
    return None if steps is None else steps[-1].input[0]


def rounding_steps(g: QdqGraph, x: str, scale: float) -> list[Any] | None:
    """The nodes of :func:`rounded_codes`' chain that makes ``x``, from its last
    (``Mul(scale)``) to its first (``Abs``), or None."""
    def node(name: str, op: str) -> Any:
        n = g.producer.get(name)
        return n if n is not None and n.op_type == op else None

    outer = node(x, "Mul")
    if outer is None or g.scalar(outer.input[1]) != scale:
        return None
    inner = node(outer.input[0], "Mul")
    factors = [] if inner is None else [g.producer.get(i) for i in inner.input]
    floor = next((f for f in factors if f is not None and f.op_type == "Floor"), None)
    signs = _sign_steps(g, next((f for f in factors if f is not None and f is not floor),
                                None))
    add = floor and node(floor.input[0], "Add")
    absn = add and node(add.input[0], "Abs")
    if not (signs and absn and signs[-1].input[0] == absn.input[0]) or \
            g.scalar(add.input[1]) not in _HALVES:
        return None
    return [outer, inner, floor, *signs, add, absn]


def _sign_steps(g: QdqGraph, node: Any) -> list[Any] | None:
    """The nodes of the sign factor ``node`` of :func:`rounding_steps`' chain, the last
    reading ``t``: ``[Sign(t)]`` or ``[Where(Less(t, 0), -1, 1), Less]``, else None."""
    if node is not None and node.op_type == "Sign":
        return [node]
    less = g.producer.get(node.input[0]) if node is not None and node.op_type == "Where" \
        else None
    if less is None or less.op_type != "Less" or g.scalar(less.input[1]) != 0.0 or \
            (g.scalar(node.input[1]), g.scalar(node.input[2])) != (-1.0, 1.0):
        return None
    return [node, less]


def divided(g: QdqGraph, t: str, scale: float) -> str | None:
    """``a`` when ``t`` is ``a / scale``, else None."""
    div = g.producer.get(t)
    if div is None or div.op_type != "Div" or g.scalar(div.input[1]) != scale:
        return None
    return div.input[0]


__all__ = ["DOMAIN", "GRID_OPS", "SAME_SCALE_OPS", "Match", "QdqGraph", "attribute_values",
           "divided", "make_node", "rounded_codes", "rounding_steps"]
