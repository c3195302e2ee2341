"""ONNX converters for sequence ops: ``RNN``, ``GRU``, ``LSTM`` and ``CausalConvWithState``,
unrolled over the (static) sequence length into MegEngine ``matmul`` and elementwise ops
(see :mod:`.node`).

The recurrent ops follow ONNX's equations (gate orders ``z, r, h`` for GRU and ``i, o, f,
c`` for LSTM, peepholes ``i, o, f``), forward, reverse or bidirectional, ``layout`` 0
(``[seq, batch, ...]``) or 1 (``[batch, seq, ...]``). With ``sequence_lens`` each batch
entry stops at its length: its state is kept and its outputs past the end are 0.
Activations without parameters (Sigmoid, Tanh, Relu, Softsign, Softplus) are supported.

Example:
    >>> import mge
    >>> op = Recurrent("RNN", 1, ("forward",), ("Tanh",), None, 0, False,
    ...                ("X", "W", "R"))
    >>> x = mge.tensor(np.ones((2, 1, 1)))           # 2 steps, batch 1, 1 feature
    >>> w = mge.tensor([[[0.5]]]); r = mge.tensor([[[0.0]]])
    >>> y, h = op(None, x, w, r)
    >>> y.shape, h.shape
    ((2, 1, 1, 1), (1, 1, 1))
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np  # noqa: F401  (doctest namespace)

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter

_ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Softplus": "softplus"}
_DEFAULTS = {"RNN": ("Tanh",), "GRU": ("Sigmoid", "Tanh"), "LSTM": ("Sigmoid", "Tanh", "Tanh")}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_ROLES = {"RNN": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
          "GRU": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
          "LSTM": ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")}


def _activate(name: str, x: Tensor) -> Tensor:
    if name == "Softsign":
        return F.div(x, F.add(F.abs(x), 1.0))
    return getattr(F, _ACTIVATIONS[name])(x)


@dataclasses.dataclass(frozen=True)
class Recurrent(OnnxOp):
    """One ONNX RNN/GRU/LSTM node; ``roles`` names the inputs passed, in order."""

    kind: str
    hidden: int
    directions: tuple[str, ...]  # "forward"/"reverse" per direction
    activations: tuple[str, ...]  # per direction, ONNX names
    clip: float | None
    layout: int
    linear_before_reset: bool
    roles: tuple[str, ...]

    def __call__(self, mod: Any, *inputs: Tensor) -> tuple[Tensor, ...]:
        given = dict(zip(self.roles, inputs))
        x = given["X"]
        if self.layout:
            x = F.transpose(x, (1, 0, 2))
        steps, batch = x.shape[0], x.shape[1]
        lens = given.get("sequence_lens")
        ys, hs, cs = [], [], []
        per = len(self.activations) // len(self.directions)
        for d, direction in enumerate(self.directions):
            acts = self.activations[d * per:(d + 1) * per]
            y, h, c = self._direction(given, x, d, direction == "reverse", acts, lens,
                                      steps, batch)
            ys.append(y)
            hs.append(h)
            cs.append(c)
        y = F.stack(ys, axis=1)  # [seq, dirs, batch, hidden]
        h, c = F.stack(hs, axis=0), (F.stack(cs, axis=0) if self.kind == "LSTM" else None)
        if self.layout:
            y = F.transpose(y, (2, 0, 1, 3))
            h = F.transpose(h, (1, 0, 2))
            c = None if c is None else F.transpose(c, (1, 0, 2))
        return (y, h) if c is None else (y, h, c)

    def _gate(self, x: Tensor, name: str) -> Tensor:
        if self.clip is not None:
            x = F.clip(x, -self.clip, self.clip)
        return _activate(name, x)

    def _direction(self, given: dict[str, Tensor], x: Tensor, d: int, reverse: bool,
                   acts: tuple[str, ...], lens: Tensor | None, steps: int,
                   batch: int) -> tuple[Tensor, Tensor, Tensor | None]:
        size, gates = self.hidden, _GATES[self.kind]
        w, r = given["W"][d], given["R"][d]
        bias = given["B"][d] if "B" in given else None
        w_bias = None if bias is None else bias[:gates * size]
        r_bias = None if bias is None else bias[gates * size:]
        projected = F.matmul(F.reshape(x, (steps * batch, -1)), w, transpose_b=True)
        if w_bias is not None:
            projected = F.add(projected, w_bias)
        projected = F.reshape(projected, (steps, batch, gates * size))
        zeros = F.zeros((batch, size), dtype=x.dtype)
        h = given["initial_h"][d] if "initial_h" in given else zeros
        c = given["initial_c"][d] if "initial_c" in given else zeros
        peep = given["P"][d] if "P" in given else None
        outputs: list[Tensor | None] = [None] * steps
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            new_h, new_c = self._step(projected[t], h, c, r, r_bias, peep, acts)
            if lens is not None:
                alive = F.reshape(F.less(F.full((batch,), t, dtype="int32"),
                                         F.astype(lens, "int32")), (batch, 1))
                alive = F.broadcast_to(alive, (batch, size))
                new_h, new_c = F.where(alive, new_h, h), F.where(alive, new_c, c)
                outputs[t] = F.where(alive, new_h, zeros)
            else:
                outputs[t] = new_h
            h, c = new_h, new_c
        return F.stack(outputs, axis=0), h, c

    def _step(self, xw: Tensor, h: Tensor, c: Tensor, r: Tensor, r_bias: Tensor | None,
              peep: Tensor | None, acts: tuple[str, ...]) -> tuple[Tensor, Tensor]:
        size = self.hidden
        hr = F.matmul(h, r, transpose_b=True)
        if r_bias is not None:
            hr = F.add(hr, r_bias)
        if self.kind == "RNN":
            return self._gate(F.add(xw, hr), acts[0]), c
        if self.kind == "GRU":
            z = self._gate(F.add(xw[:, :size], hr[:, :size]), acts[0])
            reset = self._gate(F.add(xw[:, size:2 * size], hr[:, size:2 * size]), acts[0])
            if self.linear_before_reset:
                cand = F.add(xw[:, 2 * size:], F.mul(reset, hr[:, 2 * size:]))
            else:
                rr = F.matmul(F.mul(reset, h), r[2 * size:], transpose_b=True)
                if r_bias is not None:
                    rr = F.add(rr, r_bias[2 * size:])
                cand = F.add(xw[:, 2 * size:], rr)
            cand = self._gate(cand, acts[1])
            return F.add(F.mul(F.sub(F.ones_like(z), z), cand), F.mul(z, h)), c
        pre = F.add(xw, hr)  # LSTM gates i, o, f, c
        i, o, f = pre[:, :size], pre[:, size:2 * size], pre[:, 2 * size:3 * size]
        if peep is not None:
            i = F.add(i, F.mul(peep[:size], c))
            f = F.add(f, F.mul(peep[2 * size:], c))
        i, f = self._gate(i, acts[0]), self._gate(f, acts[0])
        new_c = F.add(F.mul(f, c), F.mul(i, self._gate(pre[:, 3 * size:], acts[1])))
        if peep is not None:
            o = F.add(o, F.mul(peep[size:2 * size], new_c))
        return F.mul(self._gate(o, acts[0]), _activate(acts[2], new_c)), new_c


@converter("RNN", "GRU", "LSTM")
def _recurrent(node: Node, ctx: Any) -> Converted:
    kind = node.op_type
    node.reject_attrs(activation_alpha=None, activation_beta=None, input_forget=0)
    direction = node.attr("direction", "forward")
    directions = {"forward": ("forward",), "reverse": ("reverse",),
                  "bidirectional": ("forward", "reverse")}.get(direction)
    if directions is None:
        raise Unsupported(f"direction {direction!r}")
    activations = tuple(node.attr("activations", _DEFAULTS[kind] * len(directions)))
    unknown = [a for a in activations if a not in _ACTIVATIONS and a != "Softsign"]
    if unknown or len(activations) != len(_DEFAULTS[kind]) * len(directions):
        raise Unsupported(f"activations {list(activations)} (parameterless Sigmoid, Tanh, "
                          f"Relu, Softsign, Softplus; {len(_DEFAULTS[kind])} per direction)")
    clip = node.attr("clip")
    names, roles = [], []
    for role, name in zip(_ROLES[kind], node.inputs):
        if name:
            names.append(name)
            roles.append(role)
    op = Recurrent(kind, int(node.attr("hidden_size")), directions, activations,
                   None if clip is None else float(clip), int(node.attr("layout", 0)),
                   bool(node.attr("linear_before_reset", 0)), tuple(roles))
    outputs = list(node.outputs) + [""] * (3 - len(node.outputs))
    return op, names, outputs[:3 if kind == "LSTM" else 2]


@dataclasses.dataclass(frozen=True)
class CausalConvWithState(OnnxOp):
    """Depthwise causal 1-d convolution of ``[N, C, L]`` with kernel ``[C, 1, K]`` after
    the carried state (or zeros), optional bias and SiLU; returns the output and the last
    ``K - 1`` positions of the extended input."""

    silu: bool
    has_bias: bool
    has_state: bool

    def __call__(self, mod: Any, x: Tensor, weight: Tensor,
                 *rest: Tensor) -> tuple[Tensor, Tensor]:
        bias = rest[0] if self.has_bias else None
        state = rest[-1] if self.has_state else None
        n, channels, length = x.shape
        k = weight.shape[2]
        if state is None:
            state = F.zeros((n, channels, k - 1), dtype=x.dtype)
        full = F.concat([state, x], axis=2) if k > 1 else x
        grouped = (channels, 1, 1, 1, k) if channels > 1 else (1, 1, 1, k)
        kernel = F.reshape(weight, grouped)
        y = F.squeeze(F.conv2d(F.expand_dims(full, 2), kernel, groups=channels), 2)
        if bias is not None:
            y = F.add(y, F.reshape(bias, (1, channels, 1)))
        if self.silu:
            y = F.silu(y)
        return y, full[:, :, full.shape[2] - (k - 1):]


@converter("CausalConvWithState")
def _causal_conv(node: Node, ctx: Any) -> Converted:
    activation = node.attr("activation", "none")
    if activation not in ("none", "silu", "swish"):
        raise Unsupported(f"activation {activation!r}")
    op = CausalConvWithState(activation != "none", bool(node.input(2)), bool(node.input(3)))
    return op, [i for i in node.inputs if i], node.outputs[:2]


__all__: list[str] = []
