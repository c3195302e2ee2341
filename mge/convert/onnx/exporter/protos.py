"""ONNX ``NodeProto``s built directly: what ``onnx.helper.make_node`` builds, byte for
byte, without its per-attribute type dispatch for the common attribute kinds (one int,
float or string, a list of ints or of floats); anything else goes through
``onnx.helper.make_attribute``. The exporter builds hundreds of nodes on every plan
compile, so this is on a model's load path.

Example:
    >>> node = make_node("Conv", ["x", "w"], ["y"], "conv", {"strides": [1, 1], "group": 2})
    >>> [a.name for a in node.attribute]
    ['group', 'strides']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from onnx import AttributeProto, NodeProto, helper

_INT, _FLOAT, _STRING = AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.STRING
_INTS, _FLOATS = AttributeProto.INTS, AttributeProto.FLOATS


def make_attribute(key: str, value: Any) -> AttributeProto:
    """``onnx.helper.make_attribute(key, value)``, quicker for the common kinds."""
    kind = type(value)
    if kind is int or kind is bool:
        return AttributeProto(name=key, i=int(value), type=_INT)
    if kind is float:
        return AttributeProto(name=key, f=value, type=_FLOAT)
    if kind is str:
        return AttributeProto(name=key, s=value.encode("utf-8"), type=_STRING)
    if (kind is list or kind is tuple) and value:
        kinds = {type(v) for v in value}
        if kinds == {int}:
            return AttributeProto(name=key, ints=value, type=_INTS)
        if kinds == {float}:
            return AttributeProto(name=key, floats=value, type=_FLOATS)
    return helper.make_attribute(key, value)


def make_node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str,
              attrs: Mapping[str, Any]) -> NodeProto:
    """``onnx.helper.make_node(op_type, inputs, outputs, name=name, **attrs)``: the
    attributes in name order, ``None`` ones left out."""
    node = NodeProto(op_type=op_type, input=inputs, output=outputs)
    if name:
        node.name = name
    if attrs:
        node.attribute.extend(make_attribute(k, v) for k, v in sorted(attrs.items())
                              if v is not None)
    return node


__all__ = ["make_attribute", "make_node"]
