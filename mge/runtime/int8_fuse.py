"""Node folds of the int8 ONNX lowering (:mod:`.int8_onnx`), each exact.

* :func:`fold_pads_into_convs`: a constant ``Pad`` of the spatial axes whose value is the
  code of the conv input's zero point (a real 0, as TFLite-style SAME padding is dumped),
  read only by a ``QLinearConv``, becomes that conv's own (possibly asymmetric) ``pads``:
  onnxruntime pads a ``QLinearConv``'s input with its zero point, so the codes the conv
  reads are the same and one pass over the activation is saved.
* :func:`merge_reshapes`: a ``Reshape`` (to a constant shape of positive sizes) of a
  ``Reshape`` or ``Identity`` that nothing else reads reshapes the latter's input
  directly (onnxruntime runs each ``Reshape`` of a float tail as its own node).

Example:
    >>> nodes = fold_pads_into_convs(nodes, initializers)   # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

#: the op names in this module's strings are ONNX's
OP_VOCABULARY = "onnx"


def _value(inits: dict[str, Any], name: str) -> np.ndarray | None:
    from onnx import numpy_helper

    return numpy_helper.to_array(inits[name]) if name in inits else None


def _attr(node: Any, name: str, default: Any) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _spatial_pads(pad: Any, inits: dict[str, Any], zero_point: np.ndarray) -> list[int] | None:
    """The ``[top, left, bottom, right]`` of a constant 4-d ``Pad`` of the spatial axes
    whose value equals ``zero_point`` (same type), else None."""
    mode = _attr(pad, "mode", b"constant")
    if (mode.decode() if isinstance(mode, bytes) else mode) != "constant":
        return None
    pads = _value(inits, pad.input[1])
    if pads is None or pads.shape != (8,) or (pads < 0).any() or pads[[0, 1, 4, 5]].any():
        return None
    value = (_value(inits, pad.input[2]) if len(pad.input) > 2 and pad.input[2]
             else np.zeros((), zero_point.dtype))
    if value is None or value.dtype != zero_point.dtype or value.size != 1 \
            or int(value.reshape(())) != int(zero_point.reshape(())):
        return None
    return [int(p) for p in pads[[2, 3, 6, 7]]]


def fold_pads_into_convs(nodes: list[Any], initializers: list[Any]) -> list[Any]:
    """``nodes`` with each foldable ``Pad`` (see the module) merged into its
    ``QLinearConv``; the nodes are changed in place where merged."""
    from onnx import helper

    inits = {t.name: t for t in initializers}
    readers = Counter(name for node in nodes for name in node.input)
    producers = {out: node for node in nodes for out in node.output}
    dropped: set[int] = set()
    for conv in nodes:
        pad = producers.get(conv.input[0]) if conv.op_type == "QLinearConv" else None
        if pad is None or pad.op_type != "Pad" or readers[conv.input[0]] != 1:
            continue
        zero_point = _value(inits, conv.input[2])
        extra = None if zero_point is None else _spatial_pads(pad, inits, zero_point)
        if extra is None:
            continue
        own = list(_attr(conv, "pads", [0, 0, 0, 0]))
        kept = [a for a in conv.attribute if a.name != "pads"]
        del conv.attribute[:]
        conv.attribute.extend([*kept, helper.make_attribute(
            "pads", [a + b for a, b in zip(own, extra, strict=True)])])
        conv.input[0] = pad.input[0]
        dropped.add(id(pad))
    return [node for node in nodes if id(node) not in dropped]


def merge_reshapes(nodes: list[Any], initializers: list[Any]) -> list[Any]:
    """``nodes`` with each ``Reshape``'s chain of single-reader ``Reshape`` / ``Identity``
    producers dropped (see the module); the nodes are changed in place where merged."""
    inits = {t.name: t for t in initializers}
    readers = Counter(name for node in nodes for name in node.input)
    producers = {out: node for node in nodes for out in node.output}
    dropped: set[int] = set()
    for node in nodes:  # in order: a producer's own chain is merged first
        shape = _value(inits, node.input[1]) if node.op_type == "Reshape" else None
        if shape is None or (shape <= 0).any():  # 0 and -1 depend on the input's shape
            continue
        src = producers.get(node.input[0])
        while (src is not None and src.op_type in ("Reshape", "Identity")
               and readers[src.output[0]] == 1):
            dropped.add(id(src))
            node.input[0] = src.input[0]
            src = producers.get(node.input[0])
    return [node for node in nodes if id(node) not in dropped]


__all__ = ["fold_pads_into_convs", "merge_reshapes"]
