"""Build a quantizable ``M.Module`` from a plain convolutional ONNX classifier.

The shared MobileNets are ``Conv`` (+ ``Clip(0, 6)``), ``Add``, ``GlobalAveragePool``,
a 1x1 ``Conv`` classifier, ``Reshape`` and ``Softmax``. Each ``Conv`` becomes an
``M.Conv2d`` (an ``M.Pad`` before it for TFLite's asymmetric "SAME" padding), each
``Clip`` an ``M.Elemwise("relu6")`` and each ``Add`` an ``M.Elemwise("add")``, between a
``QuantStub`` and a ``DequantStub``; pooling stays float, and so does the classifier
unless ``quantize_classifier`` (then the pooled features pass a second ``QuantStub`` and
the classifier runs in int8 like the other convolutions). ``float_prefix`` N: the first N
layers (a chain) stay float too, the ``QuantStub`` on the output of layer N - 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

import mge
import mge.functional as F
import mge.module as M


class OnnxConvNet(M.Module):
    """The network of ``path`` (an ONNX file); ``forward`` returns the logits
    (``quantize_classifier``: the 1x1 classifier after the pooling is quantized too;
    ``float_prefix``: the first that many layers stay float)."""

    def __init__(self, path: str, quantize_classifier: bool = False,
                 float_prefix: int = 0) -> None:
        super().__init__()
        graph = onnx.load(path).graph
        inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.quant = M.QuantStub()
        self.dequant = M.DequantStub()
        self.quant_pooled = M.QuantStub() if quantize_classifier else None
        self.layers: list[M.Module] = []
        self.steps: list[tuple[str, int, tuple[str, ...], str]] = []
        self.classifier: M.Conv2d | None = None
        nodes = list(graph.node)
        pooled = False
        for node in nodes:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "Conv":
                w, b = inits[node.input[1]], inits[node.input[2]]
                groups = attrs.get("group", 1)
                top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
                conv = M.Conv2d(w.shape[1] * groups, w.shape[0], w.shape[2:], attrs["strides"],
                                (top, left) if (top, left) == (bottom, right) else 0,
                                groups=groups)
                conv.weight[...] = mge.tensor(w.reshape(conv.weight.shape))
                conv.bias[...] = mge.tensor(b.reshape(1, -1, 1, 1))
                if pooled:
                    if not quantize_classifier:
                        conv.disable_quantize()
                    self.classifier = conv
                    continue
                if (top, left) != (bottom, right):
                    self._add(M.Pad(((0, 0), (0, 0), (top, bottom), (left, right))),
                              node.input[:1], node.output[0] + "/pad")
                    self._add(conv, (node.output[0] + "/pad",), node.output[0])
                else:
                    self._add(conv, node.input[:1], node.output[0])
            elif node.op_type == "Clip":
                self._add(M.Elemwise("relu6"), node.input[:1], node.output[0])
            elif node.op_type == "Add":
                self._add(M.Elemwise("add"), tuple(node.input), node.output[0])
            elif node.op_type == "GlobalAveragePool":
                self.features_out = node.input[0]
                pooled = True
            elif node.op_type not in ("Reshape", "Softmax"):
                raise ValueError(f"OnnxConvNet: unsupported ONNX op {node.op_type}")
        self.input_name = graph.input[0].name
        self.float_prefix = float_prefix
        self._check_prefix()

    def _check_prefix(self) -> None:
        """Leave the first ``float_prefix`` layers float; ValueError unless only the last
        one's output is used after them."""
        if not self.float_prefix:
            return
        inside = {self.input_name} | {out for _, i, _, out in self.steps if i < self.float_prefix}
        last = next(out for _, i, _, out in self.steps if i == self.float_prefix - 1)
        later = {t for _, i, ins, _ in self.steps if i >= self.float_prefix for t in ins}
        if (later & inside) - {last}:
            raise ValueError(f"OnnxConvNet: the first {self.float_prefix} layers are no "
                             "chain (a later layer reads an earlier tensor of theirs)")
        for layer in self.layers[:self.float_prefix]:
            layer.disable_quantize()

    def _add(self, module: M.Module, inputs: tuple[str, ...], output: str) -> None:
        self.steps.append((type(module).__name__, len(self.layers), tuple(inputs), output))
        self.layers.append(module)

    def features(self, x: Any) -> Any:
        """The (quantized) feature map the network pools, before its ``DequantStub``."""
        values = {self.input_name: x if self.float_prefix else self.quant(x)}
        for _, index, inputs, output in self.steps:
            values[output] = self.layers[index](*(values[i] for i in inputs))
            if index == self.float_prefix - 1:
                values[output] = self.quant(values[output])
        return values[self.features_out]

    def forward(self, x: Any) -> Any:
        pooled = F.mean(self.dequant(self.features(x)), axis=(2, 3), keepdims=True)
        if self.quant_pooled is None:
            return F.flatten(self.classifier(pooled), 1)
        return F.flatten(self.dequant(self.classifier(self.quant_pooled(pooled))), 1)


def preprocess(image: np.ndarray, size: int = 224) -> np.ndarray:
    """An RGB ``uint8`` image ``(H, W, 3)`` already cropped square, as the models' input:
    bilinear resize to ``size``, ``x / 127.5 - 1``, NCHW."""
    from PIL import Image

    img = Image.fromarray(image).resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    return arr.transpose(2, 0, 1)[None]
