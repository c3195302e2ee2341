"""ONNX converter for ``LinearAttention`` (the recurrent state form of linear attention:
``linear``, ``gated``, ``delta`` and ``gated_delta`` update rules), written with
MegEngine's matmul and elementwise ops, one step per token as ONNX's reference runs it.

Per step ``t`` and KV head, with state ``S`` ``[d_k, d_v]`` (zeros, or ``past_state``):
``S *= exp(g_t)`` (gated rules), ``v_t = beta_t * (v_t - S^T k_t)`` (delta rules),
``S += k_t v_t^T``, then ``o_t = scale * q_t^T S`` with each KV head's state shared by its
group of query heads. The state is kept in float32, as ONNX's reference keeps it.

Example:
    >>> import mge
    >>> ones = mge.tensor(np.ones((1, 2, 2), "float32"))  # batch, tokens, 1 head of 2
    >>> y, state = LinearAttention("linear", 1, 1, 1.0, 0)(None, ones, ones, ones)
    >>> y.numpy()  # token t reads t + 1 stored outer products: 2 * (t + 1) per feature
    array([[[2., 2.],
            [4., 4.]]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np  # noqa: F401  (doctest namespace)

from .... import functional as F
from ....core.apply import observing
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter

_RULES = ("linear", "gated", "delta", "gated_delta")


def _heads(x: Tensor, heads: int, name: str) -> Tensor:
    """``[B, T, H * D]`` -> ``[B, H, T, D]`` (float32)."""
    batch, steps, hidden = x.shape
    if hidden % heads:
        raise ValueError(f"LinearAttention: {name} hidden size {hidden} is not a multiple "
                         f"of {heads} heads")
    y = F.reshape(x, (batch, steps, heads, hidden // heads))
    return F.astype(F.transpose(y, (0, 2, 1, 3)), "float32")


@dataclasses.dataclass(frozen=True)
class LinearAttention(OnnxOp):
    """ONNX LinearAttention; ``given`` says which of ``past_state, decay, beta`` follow
    ``query, key, value`` (bits 1, 2, 4)."""

    rule: str
    q_heads: int
    kv_heads: int
    scale: float  # 0: 1 / sqrt(d_k)
    given: int
    static_length: bool = True  # the sequence length is known at import time

    def __call__(self, mod: Any, q: Tensor, k: Tensor, v: Tensor,
                 *rest: Tensor) -> tuple[Tensor, Tensor]:
        extra = iter(rest)
        past, decay, beta = (next(extra) if self.given & bit else None for bit in (1, 2, 4))
        for name, x in (("query", q), ("key", k), ("value", v)):
            if x.ndim != 3:
                raise ValueError(f"LinearAttention: {name} must be [batch, seq, hidden], "
                                 f"got {tuple(x.shape)}")
        if not self.static_length and observing():
            raise ValueError("LinearAttention: the model leaves the sequence length symbolic "
                             "and the recurrence runs one step per token: a traced graph "
                             "(.mge, from_onnx(trace=True)) would keep the traced call's "
                             "steps; import with trace=False")
        out_dtype = q.dtype
        batch, steps, _ = q.shape
        q4, k4, v4 = (_heads(x, h, n) for x, h, n in ((q, self.q_heads, "query"),
                                                       (k, self.kv_heads, "key"),
                                                       (v, self.kv_heads, "value")))
        d_k, d_v = q4.shape[3], v4.shape[3]
        gates = self._per_step(decay, "decay", d_k, batch, steps)
        betas = self._per_step(beta, "beta", 1, batch, steps)
        if past is not None:
            if tuple(past.shape) != (batch, self.kv_heads, d_k, d_v):
                raise ValueError(f"LinearAttention: past_state {tuple(past.shape)} must be "
                                 f"{(batch, self.kv_heads, d_k, d_v)}")
            state_dtype, state = past.dtype, F.astype(past, "float32")
        else:
            state_dtype = out_dtype
            state = F.zeros((batch, self.kv_heads, d_k, d_v), dtype="float32")
        scale = self.scale or 1.0 / math.sqrt(d_k)
        group = self.q_heads // self.kv_heads
        outs = []
        for t in range(steps):
            k_t, v_t = k4[:, :, t:t + 1, :], v4[:, :, t:t + 1, :]  # [B, H, 1, D]
            if gates is not None:
                state = F.mul(state, F.expand_dims(F.exp(gates[:, :, t, :]), -1))
            if betas is not None:
                retrieved = F.matmul(k_t, state)  # [B, H, 1, d_v]
                v_t = F.mul(betas[:, :, t:t + 1, :], F.sub(v_t, retrieved))
            state = F.add(state, F.matmul(k_t, v_t, transpose_a=True))
            shared = state if group == 1 else F.repeat(state, group, axis=1)
            outs.append(F.mul(F.matmul(q4[:, :, t:t + 1, :], shared), scale))
        y = F.concat(outs, axis=2) if len(outs) > 1 else outs[0]
        y = F.reshape(F.transpose(y, (0, 2, 1, 3)), (batch, steps, self.q_heads * d_v))
        return F.astype(y, out_dtype), F.astype(state, state_dtype)

    def _per_step(self, x: Tensor | None, name: str, width: int, batch: int,
                  steps: int) -> Tensor | None:
        """decay ``[B, T, H]`` or ``[B, T, H * d_k]``, beta ``[B, T, H]`` or ``[B, T, 1]``
        as ``[B, H or 1, T, width or 1]`` (float32)."""
        if x is None:
            return None
        last = x.shape[-1] if x.ndim == 3 else None
        if last == self.kv_heads or (name == "beta" and last == 1):
            heads, size = last, 1
        elif name == "decay" and last == self.kv_heads * width:
            heads, size = self.kv_heads, width
        else:
            allowed = "kv_num_heads or kv_num_heads * d_k" if name == "decay" else \
                "kv_num_heads or 1"
            raise ValueError(f"LinearAttention: {name} {tuple(x.shape)} must be [batch, "
                             f"seq, {allowed}]")
        y = F.reshape(x, (batch, steps, heads, size))
        return F.astype(F.transpose(y, (0, 2, 1, 3)), "float32")


@converter("LinearAttention")
def _linear_attention(node: Node, ctx: Any) -> Converted:
    rule = node.attr("update_rule", "gated_delta")
    if rule not in _RULES:
        raise Unsupported(f"update_rule {rule!r} (ONNX defines {', '.join(_RULES)})")
    q_heads, kv_heads = node.attr("q_num_heads"), node.attr("kv_num_heads")
    if not q_heads or not kv_heads or q_heads % kv_heads:
        raise Unsupported(f"q_num_heads {q_heads} must be a positive multiple of "
                          f"kv_num_heads {kv_heads}")
    gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if bool(node.input(4)) != gated or bool(node.input(5)) != delta:
        raise Unsupported(f"update_rule {rule!r} takes decay: {gated}, beta: {delta}; the "
                          "node's inputs differ")
    given = sum(bit for bit, index in ((1, 3), (2, 4), (4, 5)) if node.input(index))
    shape = ctx.shapes.get(node.input(0))
    static = shape is not None and len(shape) == 3 and shape[1] is not None
    op = LinearAttention(rule, int(q_heads), int(kv_heads), float(node.attr("scale", 0.0)),
                         given, static)
    return op, [i for i in node.inputs if i], node.outputs[:2]


__all__: list[str] = []
