"""ONNX converters that select, crop or reorder elements: ``CenterCropPad``,
``Compress``, ``ReverseSequence``, ``NonZero``, ``Unique``, and the window generators
``HannWindow``/``HammingWindow``/``BlackmanWindow`` (see :mod:`.node`).

Where the output's shape depends on tensor values (``Compress``' condition, ``NonZero``,
``Unique``, a window's size) those values must be known when the node is converted: as
constants at import time, or, fed at run time, through the importer's deferred nodes
(:mod:`.deferred`: eager import only, a traced ``.mge`` refuses such a node).

Example:
    >>> import mge
    >>> CenterCropPad(((1, 4),))(None, mge.tensor([[1.0, 2.0]])).numpy()
    array([[0., 1., 2., 0.]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter, elem_dtype, normalize_axis


@dataclasses.dataclass(frozen=True)
class CenterCropPad(OnnxOp):
    """Each ``(axis, size)``: the centred ``size`` elements, or the input centred in
    ``size`` zeros (the odd element goes to the end, as in ONNX's reference)."""

    targets: tuple[tuple[int, int], ...]

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        crop = [slice(None)] * x.ndim
        pads = [(0, 0)] * x.ndim
        for axis, size in self.targets:
            axis = normalize_axis(axis, x.ndim)
            length = x.shape[axis]
            if size < length:
                start = (length - size) // 2
                crop[axis] = slice(start, start + size)
            elif size > length:
                before = (size - length) // 2
                pads[axis] = (before, size - length - before)
        y = x[tuple(crop)]
        return F.nn.pad(y, tuple(pads)) if any(p != (0, 0) for p in pads) else y


@converter("CenterCropPad")
def _center_crop_pad(node: Node, ctx: Any) -> Converted:
    sizes = [int(v) for v in ctx.const(node.input(1), "CenterCropPad shape")]
    axes = node.attr("axes")
    axes = list(range(len(sizes))) if axes is None else [int(a) for a in axes]
    if len(axes) != len(sizes):
        raise Unsupported(f"CenterCropPad shape {sizes} does not match axes {axes}")
    return CenterCropPad(tuple(zip(axes, sizes))), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Select(OnnxOp):
    """The elements at constant ``index`` along ``axis`` (None: of the flattened input)."""

    index: tuple[int, ...]
    axis: int | None

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        if self.axis is None:
            x, axis = F.reshape(x, (-1,)), 0
        else:
            axis = normalize_axis(self.axis, x.ndim)
        return x[(slice(None),) * axis + (Tensor(np.asarray(self.index, dtype=np.int32)),)]


@converter("Compress")
def _compress(node: Node, ctx: Any) -> Converted:
    condition = np.asarray(ctx.const(node.input(1), "Compress condition")).reshape(-1)
    axis = node.attr("axis")
    shape = ctx.static_shape(node.input(0))
    if shape is not None:
        length = int(np.prod(shape)) if axis is None else shape[normalize_axis(axis, len(shape))]
        condition = condition[:length]
    index = tuple(int(i) for i in np.flatnonzero(condition))
    return Select(index, None if axis is None else int(axis)), node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class ReverseSequence(OnnxOp):
    """Reverse the first ``lengths[b]`` steps along ``time_axis`` of each batch entry."""

    lengths: tuple[int, ...]
    batch_axis: int
    time_axis: int

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        steps = x.shape[self.time_axis]
        order = np.tile(np.arange(steps), (len(self.lengths), 1))
        for b, n in enumerate(self.lengths):
            order[b, :n] = order[b, :n][::-1]
        # gather along time with the order laid out on (batch, time)
        shape = [1] * x.ndim
        shape[self.batch_axis], shape[self.time_axis] = len(self.lengths), steps
        layout = order if self.batch_axis < self.time_axis else order.T
        index = F.broadcast_to(Tensor(layout.reshape(shape).astype(np.int32)), x.shape)
        return F.gather(x, self.time_axis, index)


@converter("ReverseSequence")
def _reverse_sequence(node: Node, ctx: Any) -> Converted:
    lengths = tuple(int(v) for v in ctx.const(node.input(1), "ReverseSequence lengths"))
    batch_axis, time_axis = int(node.attr("batch_axis", 1)), int(node.attr("time_axis", 0))
    if {batch_axis, time_axis} != {0, 1}:
        raise Unsupported(f"batch_axis={batch_axis}, time_axis={time_axis} (0 and 1)")
    return ReverseSequence(lengths, batch_axis, time_axis), node.inputs[:1], node.outputs[:1]


@converter("NonZero")
def _non_zero(node: Node, ctx: Any) -> Converted:
    value = np.asarray(ctx.const(node.input(0), "NonZero input"))
    ctx.consts[node.outputs[0]] = np.stack(np.nonzero(value)).astype(np.int64).reshape(
        value.ndim, -1)
    return None


@converter("Unique")
def _unique(node: Node, ctx: Any) -> Converted:
    value = np.asarray(ctx.const(node.input(0), "Unique input"))
    axis = node.attr("axis")
    axis = None if axis is None else normalize_axis(int(axis), value.ndim)
    unique, first, inverse, counts = np.unique(value, return_index=True, return_inverse=True,
                                               return_counts=True, axis=axis)
    inverse = inverse.reshape(-1)
    if not node.attr("sorted", 1):  # in order of first occurrence
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        unique = np.take(unique, order, axis=0 if axis is None else axis)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    results = (unique, first.astype(np.int64), inverse.astype(np.int64),
               counts.astype(np.int64))
    ctx.consts.update((name, v) for name, v in zip(node.outputs, results) if name)
    return None


_WINDOWS = {"HannWindow": (0.5, 0.5, 0.0), "HammingWindow": (25 / 46, 21 / 46, 0.0),
            "BlackmanWindow": (0.42, 0.5, 0.08)}


@converter(*_WINDOWS)
def _window(node: Node, ctx: Any) -> Converted:
    size = int(np.asarray(ctx.const(node.input(0), f"{node.op_type} size")).reshape(()))
    dtype = elem_dtype(int(node.attr("output_datatype", 1)), f"the {node.op_type} type")
    periodic = bool(node.attr("periodic", 1))
    a0, a1, a2 = _WINDOWS[node.op_type]
    n = np.arange(size, dtype=np.float64)
    span = size if periodic else size - 1
    angle = 2 * np.pi * n / span if span > 0 else np.zeros_like(n)
    window = a0 - a1 * np.cos(angle) + a2 * np.cos(2 * angle)
    ctx.consts[node.outputs[0]] = window.astype(dtype)
    return None


__all__: list[str] = []
