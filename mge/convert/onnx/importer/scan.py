"""ONNX converter for ``Scan``: the body graph is imported as a child module (see
``ImportContext.subgraph``) and run once per step of the (static) scan length, threading
the states and stacking the per-step outputs.

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

from .... import functional as F
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

    def __call__(self, mod: Any, *inputs: Tensor) -> tuple[Tensor, ...]:
        if not self.batched:
            return self._scan(getattr(mod, self.body), list(inputs))
        body = getattr(mod, self.body)
        runs = [self._scan(body, [x[b] for x in inputs]) for b in range(inputs[0].shape[0])]
        return tuple(F.stack(list(parts), axis=0) for parts in zip(*runs))

    def _scan(self, body: Any, inputs: list[Tensor]) -> tuple[Tensor, ...]:
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
            out = body(*states, *picked)
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
    body = ctx.subgraph(node.attr("body"), f"{node.op_type}_{node.name}")
    op = Scan(body, len(inputs) - scans, tuple(int(a) for a in node.attr("scan_input_axes", [])),
              input_reverse, tuple(int(a) for a in node.attr("scan_output_axes", [])),
              output_reverse, batched)
    return op, inputs, node.outputs


__all__: list[str] = []
