"""ONNX converters for control flow: ``Scan``, ``Loop`` and ``If``. Bodies and branches are
imported as child modules (``ImportContext.subgraph``; values of the enclosing graph they
read are passed as extra inputs). Scan runs its body once per step of the (static) scan
length, threading the states and stacking the per-step outputs. ``Loop`` trip counts and
conditions and ``If`` conditions are tensor values: they are read when the node runs, so
such nodes run eagerly only (a traced ``.mge`` would freeze one path; it is refused).

Scan-9 and later: inputs ``states..., scans...`` with per-input scan axes and
directions; Scan-8 adds a leading batch axis to every input and output (each batch entry
is scanned on its own) and a ``sequence_lens`` input, which must be absent.

Example:
    >>> op = Scan("body", 1, (0,), (0,), (0,), (0,), False)  # one state, one scan input
    >>> op.states, op.batched
    (1, False)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .... import functional as F
from ....core.apply import observing
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter, normalize_axis


@dataclasses.dataclass(frozen=True)
class Scan(OnnxOp):
    """One Scan node: ``body`` is the module attribute holding the imported body."""

    body: str
    states: int
    input_axes: tuple[int, ...]
    input_reverse: tuple[int, ...]
    output_axes: tuple[int, ...]
    output_reverse: tuple[int, ...]
    batched: bool  # Scan-8: axis 0 of every input and output is a batch axis
    outer: int = 0  # the last inputs: values of the enclosing graph the body reads

    def __call__(self, mod: Any, *inputs: Tensor) -> tuple[Tensor, ...]:
        split = len(inputs) - self.outer
        inputs, outer = inputs[:split], list(inputs[split:])
        body = getattr(mod, self.body)
        if not self.batched:
            return self._scan(body, list(inputs), outer)
        runs = [self._scan(body, [x[b] for x in inputs], outer)
                for b in range(inputs[0].shape[0])]
        return tuple(F.stack(list(parts), axis=0) for parts in zip(*runs))

    def _scan(self, body: Any, inputs: list[Tensor], outer: list[Tensor]) -> tuple[Tensor, ...]:
        states, scans = inputs[:self.states], inputs[self.states:]
        axes = [normalize_axis(self.input_axes[i] if i < len(self.input_axes) else 0, x.ndim)
                for i, x in enumerate(scans)]
        lengths = {x.shape[a] for x, a in zip(scans, axes)}
        if len(lengths) != 1:
            raise ValueError(f"Scan: scan inputs of different lengths {sorted(lengths)}")
        steps = lengths.pop()
        collected: list[list[Tensor]] = []
        for t in range(steps):
            picked = []
            for i, (x, axis) in enumerate(zip(scans, axes)):
                reverse = i < len(self.input_reverse) and self.input_reverse[i]
                at = steps - 1 - t if reverse else t
                picked.append(x[(slice(None),) * axis + (at,)])
            out = body(*states, *picked, *outer)
            out = out if isinstance(out, tuple) else (out,)
            states = list(out[:self.states])
            collected.append(list(out[self.states:]))
        stacked = []
        for j, parts in enumerate(zip(*collected)):
            parts = list(parts)
            if j < len(self.output_reverse) and self.output_reverse[j]:
                parts.reverse()
            axis = self.output_axes[j] if j < len(self.output_axes) else 0
            stacked.append(F.stack(parts, axis=normalize_axis(axis, parts[0].ndim + 1)))
        return (*states, *stacked)


@converter("Scan")
def _scan(node: Node, ctx: Any) -> Converted:
    if not hasattr(ctx, "subgraph"):
        raise Unsupported("Scan with run-time operands of its own (deferred import)")
    batched = ctx.opset < 9
    inputs = list(node.inputs)
    if batched:
        if inputs[0]:
            raise Unsupported("Scan-8 sequence_lens (every sequence must be full length)")
        inputs = inputs[1:]
        input_reverse = tuple(int(d) for d in node.attr("directions", []))
        output_reverse: tuple[int, ...] = ()
    else:
        input_reverse = tuple(int(d) for d in node.attr("scan_input_directions", []))
        output_reverse = tuple(int(d) for d in node.attr("scan_output_directions", []))
    scans = int(node.attr("num_scan_inputs"))
    body, outer = ctx.subgraph(node.attr("body"), f"{node.op_type}_{node.name}")
    op = Scan(body, len(inputs) - scans, tuple(int(a) for a in node.attr("scan_input_axes", [])),
              input_reverse, tuple(int(a) for a in node.attr("scan_output_axes", [])),
              output_reverse, batched, len(outer))
    return op, [*inputs, *outer], node.outputs


def _eager_value(x: Tensor, what: str) -> Any:
    """The value of a tensor steering control flow; refused while tracing."""
    if observing():
        raise ValueError(f"{what} is a tensor value: a traced graph (.mge, "
                         "from_onnx(trace=True)) would freeze one path; import with "
                         "trace=False")
    return x.numpy().reshape(-1)[0]


@dataclasses.dataclass(frozen=True)
class Loop(OnnxOp):
    """ONNX Loop: run ``body(i, cond, *carried, *outer)`` while ``i < trip_count`` (if
    given) and ``cond`` (if given); returns the carried values and the stacked per-step
    outputs."""

    body: str
    has_trip: bool
    has_cond: bool
    carried: int
    outer: int

    def __call__(self, mod: Any, *inputs: Tensor) -> tuple[Tensor, ...]:
        body = getattr(mod, self.body)
        values = list(inputs)
        trip = _eager_value(values.pop(0), "Loop trip count") if self.has_trip else None
        cond = bool(_eager_value(values.pop(0), "Loop condition")) if self.has_cond else True
        split = len(values) - self.outer
        carried, outer = values[:split], values[split:]
        collected: list[list[Tensor]] = []
        step = 0
        while cond and (trip is None or step < trip):
            out = body(Tensor(np.asarray(step, np.int64)), Tensor(np.asarray(cond)),
                       *carried, *outer)
            out = out if isinstance(out, tuple) else (out,)
            cond = bool(_eager_value(out[0], "Loop condition"))
            carried = list(out[1:1 + self.carried])
            collected.append(list(out[1 + self.carried:]))
            step += 1
        if not collected and body.output_names[1 + self.carried:]:
            raise ValueError("Loop ran no iteration: its scan outputs have no known shape")
        stacked = [F.stack(list(parts), axis=0) for parts in zip(*collected)]
        return (*carried, *stacked)


@converter("Loop")
def _loop(node: Node, ctx: Any) -> Converted:
    if not hasattr(ctx, "subgraph"):
        raise Unsupported("Loop with run-time operands of its own (deferred import)")
    body, outer = ctx.subgraph(node.attr("body"), f"{node.op_type}_{node.name}")
    trip, cond, *carried = node.inputs
    inputs = [i for i in (trip, cond) if i] + carried + outer
    op = Loop(body, bool(trip), bool(cond), len(carried), len(outer))
    return op, inputs, node.outputs


@dataclasses.dataclass(frozen=True)
class If(OnnxOp):
    """ONNX If: the outputs of the ``then`` or the ``else`` branch."""

    then: str
    otherwise: str
    then_outer: int

    def __call__(self, mod: Any, cond: Tensor, *outer: Tensor) -> tuple[Tensor, ...]:
        if bool(_eager_value(cond, "If condition")):
            out = getattr(mod, self.then)(*outer[:self.then_outer])
        else:
            out = getattr(mod, self.otherwise)(*outer[self.then_outer:])
        return out if isinstance(out, tuple) else (out,)


@converter("If")
def _if(node: Node, ctx: Any) -> Converted:
    if not hasattr(ctx, "subgraph"):
        raise Unsupported("If with run-time operands of its own (deferred import)")
    then, then_outer = ctx.subgraph(node.attr("then_branch"), f"If_{node.name}_then")
    otherwise, else_outer = ctx.subgraph(node.attr("else_branch"), f"If_{node.name}_else")
    op = If(then, otherwise, len(then_outer))
    return op, [node.input(0), *then_outer, *else_outer], node.outputs


__all__: list[str] = []
