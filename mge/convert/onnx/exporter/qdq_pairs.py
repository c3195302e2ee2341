"""Q/DQ pairs where onnxruntime's QDQ fusion needs them, added without changing a value.

onnxruntime runs a ``Conv`` (``Add``, ``MatMul``) on its int8 kernels only in the form
``DequantizeLinear -> op -> QuantizeLinear``. Three forms of the QDQ lowering
(:mod:`mge.runtime.int8_qdq`, written for OpenVINO, which fuses them itself) break it:

* a relu before the quantization, ``Conv -> Relu -> QuantizeLinear``: at zero point 0,
  quantizing commutes with relu (``relu(q(x)) == q(relu(x))``), so the op's result is
  quantized first, ``Conv -> Q -> DQ -> Relu -> Q``;
* an op that keeps its input's grid and is not requantized (a ``Pad`` before a conv, a
  max pool or a relu on one grid): its output gets the pair of its input's grid, which
  holds every value it can take (``q(dq(c)) == c``), so its readers read a
  ``DequantizeLinear``;
* a ``QuantizeLinear`` or ``DequantizeLinear`` read by several ops (a residual block's
  output, read by the next block's first conv and its add): each reader gets its own
  copy. onnxruntime on x86 moves int8 activations to uint8 (its ``QDQS8ToU8Transformer``)
  only for a Q -> DQ pair whose Q has that one reader, and fuses a conv only when its
  ``DequantizeLinear`` feeds nothing else: without the copies, 9 of ResNet-18's 20
  convolutions ran on int8 kernels; with them, all 20, and 47 of MobileNetV2's 52 (its
  5 projection convolutions feeding a residual add now have two ``QuantizeLinear``
  readers, which onnxruntime does not fuse; requantizing the first reader's reals
  instead made onnxruntime's own ``DequantizeLinear`` copies share the Q again: 37).

:func:`add_fusable_pairs` rewrites a model's graph in place; it adds pairs only where
the values are provably kept.

Example:
    >>> add_fusable_pairs(model.graph)          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: the op names this module's strings speak: ONNX's, not mge's registered op types
#: (``tests/ops/test_op_homes.py`` checks each)
OP_VOCABULARY = "onnx"

#: ops whose output values are their input's (a subset, rearranged): on its grid
_GRID_KEEPING = {"MaxPool", "Reshape", "Transpose", "Pad", "Relu"}
#: ops whose readers onnxruntime fuses with a DequantizeLinear before them
_FUSING = {"Conv", "MatMul", "Gemm", "Add", "Mul", "AveragePool", "GlobalAveragePool"}


class _Index:
    """A graph's producers, readers and initializers, kept current as nodes are added."""

    def __init__(self, g: Any) -> None:
        self.g = g
        self.inits = {t.name: t for t in g.initializer}
        self.producer = {o: n for n in g.node for o in n.output}
        self.readers: dict[str, list[Any]] = {}
        for n in g.node:
            for i in n.input:
                self.readers.setdefault(i, []).append(n)
        self.outputs = {o.name for o in g.output}
        self.names = set(self.producer) | set(self.inits) | {i.name for i in g.input}
        self._k = 0

    def fresh(self, hint: str) -> str:
        while f"{hint}_p{self._k}" in self.names:
            self._k += 1
        self.names.add(f"{hint}_p{self._k}")
        return f"{hint}_p{self._k}"

    def const(self, name: str) -> np.ndarray | None:
        t = self.inits.get(name)
        return None if t is None else numpy_helper.to_array(t)

    def zero_point_is_zero(self, q: Any) -> bool:
        zp = self.const(q.input[2]) if len(q.input) > 2 else np.zeros((), np.uint8)
        return zp is not None and zp.size == 1 and int(zp) == 0

    def clone(self, name: str) -> str:
        """A new initializer holding the value of the initializer ``name`` (a graph
        input or computed value: ``name`` itself)."""
        t = self.inits.get(name)
        if t is None:
            return name
        copy = onnx.TensorProto()
        copy.CopyFrom(t)
        copy.name = self.fresh(name)
        self.g.initializer.append(copy)
        self.inits[copy.name] = copy
        return copy.name

    def pair(self, name: str, like: Any) -> tuple[list[Any], str]:
        """Nodes quantizing and dequantizing ``name`` with the scale and zero point of the
        Q or DQ node ``like``; the dequantized name."""
        q, dq = self.fresh(f"{name}_q"), self.fresh(f"{name}_dq")
        params = list(like.input[1:])
        added = [helper.make_node("QuantizeLinear", [name, *params], [q]),
                 helper.make_node("DequantizeLinear", [q, *params], [dq])]
        self.producer.update({q: added[0], dq: added[1]})
        return added, dq


def _on_grid(index: _Index, node: Any, dq: Any) -> bool:
    """Whether ``node`` (fed by the DequantizeLinear ``dq``) outputs only values of
    ``dq``'s grid."""
    if node.op_type == "Relu":
        return index.zero_point_is_zero(dq)
    if node.op_type == "Pad" and len(node.input) > 2 and node.input[2]:
        value = index.const(node.input[2])
        scale = index.const(dq.input[1])
        zp = index.const(dq.input[2]) if len(dq.input) > 2 else np.zeros((), np.uint8)
        if value is None or scale is None or zp is None or scale.size != 1:
            return False
        code = np.float64(value) / np.float64(scale) + int(zp)
        info = np.iinfo(zp.dtype)
        return bool(code == np.round(code) and info.min <= code <= info.max)
    return True


def add_fusable_pairs(g: Any) -> None:
    """Rewrite ``g`` (an ``onnx.GraphProto`` in topological order) as the module says."""
    index = _Index(g)
    nodes = []
    for node in g.node:
        readers = index.readers.get(node.output[0], [])
        if node.op_type == "Relu" and len(readers) == 1 and \
                readers[0].op_type == "QuantizeLinear" and \
                node.output[0] not in index.outputs and \
                index.zero_point_is_zero(readers[0]) and \
                getattr(index.producer.get(node.input[0]), "op_type", "") != \
                "DequantizeLinear":
            added, name = index.pair(node.input[0], readers[0])
            nodes += added
            node.input[0] = name
            nodes.append(node)
            continue
        nodes.append(node)
        source = index.producer.get(node.input[0]) if node.input else None
        if node.op_type in _GRID_KEEPING and source is not None and \
                source.op_type == "DequantizeLinear" and \
                any(r.op_type in _FUSING for r in readers) and \
                _on_grid(index, node, source):
            added, name = index.pair(node.output[0], source)
            nodes += added
            for r in readers:
                r.input[:] = [name if i == node.output[0] else i for i in r.input]
    nodes = _copies_per_reader(nodes, index)
    del g.node[:]
    g.node.extend(nodes)


def _copies_per_reader(nodes: list[Any], index: _Index) -> list[Any]:
    """``nodes`` with every DequantizeLinear read by several nodes, then every
    QuantizeLinear read by several DequantizeLinear nodes, copied for each reader after
    its first. A copy reads its own scale and zero point initializers (of the same
    values): onnxruntime's common subexpression elimination merges nodes of the same
    inputs back into one."""
    return _copy_shared(_copy_shared(nodes, "DequantizeLinear", index), "QuantizeLinear",
                        index)


def _copy_shared(nodes: list[Any], op_type: str, index: _Index) -> list[Any]:
    readers: dict[str, list[Any]] = {}
    for n in nodes:
        for i in dict.fromkeys(n.input):
            readers.setdefault(i, []).append(n)
    copies: dict[int, list[Any]] = {}
    for n in nodes:
        shared = readers.get(n.output[0], []) if n.op_type == op_type else []
        if op_type == "QuantizeLinear" and \
                not all(r.op_type == "DequantizeLinear" for r in shared):
            continue
        for k, r in enumerate(shared[1:], 1):
            name = index.fresh(f"{n.output[0]}_r{k}")
            r.input[:] = [name if i == n.output[0] else i for i in r.input]
            params = [index.clone(p) for p in n.input[1:]]
            copies.setdefault(id(n), []).append(
                helper.make_node(op_type, [n.input[0], *params], [name]))
    return [m for n in nodes for m in (n, *copies.get(id(n), []))]


__all__ = ["add_fusable_pairs"]
