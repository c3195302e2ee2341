"""``MultiHeadAttn``: MegEngine 1.13's multi-head attention operator, as its dumps hold it.

MegEngine's ``F.nn.multi_head_attention`` runs (and ``trace.dump`` writes) one
``MultiHeadAttn`` operator: inputs ``queries (N, L, E)``, ``keys (N, S, k_size)``,
``values (N, S, v_size)``, ``qkvo_weight_bias`` (MegEngine's packed ``(1, n)`` parameter:
``Wq, Wk, Wv, Wo`` then the biases present) and, with ``tensor_combination_type``
``ONLY_MASK``, an additive float ``attn_mask (N * heads, L, S)`` (or ``(L, S)``); outputs
``out (N, L, oproj_size)``, ``attn_weight (N * heads, L, S)`` and two reserve spaces of
MegEngine's lengths (zeros here; MegEngine keeps intermediates and dropout masks in
them). The math is MegEngine's proxy kernel::

    Q = queries @ Wq + bq ...; per head h:  A_h = softmax(Q_h @ K_h^T * sm_scaler + mask)
    out = concat_h(A_h @ V_h) @ Wo + bo

mge's own ``F.nn.multi_head_attention`` records these steps as small ops; this op is how
mge reads MegEngine's files. The kernel (:func:`attention`) is written once against
:class:`AttnArrays` and runs on numpy, on torch and as ONNX nodes.

Refused (``OpError``): dropout while training (MegEngine's random masks cannot be
reproduced), ``bias_k``/``bias_v`` inputs, ``add_zero_attn``, ``reslink``, cuDNN-style
masks and input orders other than 0 (batch, time, feature).

Example:
    >>> f32 = np.dtype("float32")
    >>> op = MultiHeadAttn(num_heads=2, embeding_size=4, k_size=4, v_size=4, qproj_size=4,
    ...                    kproj_size=4, vproj_size=4, oproj_size=4, training=False)
    >>> infos = [TensorInfo((1, 3, 4), f32), TensorInfo((1, 5, 4), f32),
    ...          TensorInfo((1, 5, 4), f32), TensorInfo((1, 64), f32)]
    >>> [i.shape for i in op.infer(infos)]
    [(1, 3, 4), (2, 3, 5), (0,), (65,)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op
from ..registry import NUMPY

F32 = np.dtype("float32")
MASK_TYPES = ("NO_MASK", "DEFAULT_MASK", "CUDNN_STYLE_MASK", "USER_DEFINED_MASK")
COMBINATIONS = ("NONE", "ONLY_MASK", "ONLY_BIASKV", "ALL")


@register_op
class MultiHeadAttn(OpDef):
    """MegEngine's ``MultiHeadAttn`` (param names and defaults as its ``MultiHeadAttn``
    param, ``embeding_size`` spelled as MegEngine spells it)."""

    type_name = "MultiHeadAttn"
    memory = Memory.FRESH
    mge_form = MgeForm("MultiHeadAttn", ("MultiHeadAttn",))
    nr_inputs = (4, 5)
    num_heads: int = 1
    embeding_size: int = 0
    k_size: int = 0
    v_size: int = 0
    qproj_size: int = 0
    kproj_size: int = 0
    vproj_size: int = 0
    oproj_size: int = 0
    qbias: bool = False
    kbias: bool = False
    vbias: bool = False
    obias: bool = False
    sm_scaler: float = 1.0
    input_order: int = 0
    attn_mask_type: str = "NO_MASK"
    tensor_combination_type: str = "NONE"
    add_zero_attn: bool = False
    need_weights: bool = False
    reslink: bool = False
    training: bool = True
    seed: int = 0
    attn_prob: float = 0.0
    out_prob: float = 0.0

    def __post_init__(self) -> None:
        check_enum(self, "attn_mask_type", MASK_TYPES)
        check_enum(self, "tensor_combination_type", COMBINATIONS)

    def _refusal(self) -> str | None:
        if self.training and (self.attn_prob or self.out_prob):
            return ("dropout while training (attn_prob/out_prob > 0): MegEngine's random "
                    "masks cannot be reproduced; dump the model in eval mode")
        for name in ("add_zero_attn", "reslink"):
            if getattr(self, name):
                return f"{name}=True (MegEngine 1.13's CPU kernel refuses it too)"
        if self.tensor_combination_type in ("ONLY_BIASKV", "ALL"):
            return "bias_k/bias_v inputs (MegEngine 1.13's CPU kernel refuses them too)"
        if self.attn_mask_type == "CUDNN_STYLE_MASK":
            return "cuDNN-style masks (they run only on cuDNN in MegEngine)"
        if self.input_order != 0:
            return f"input_order {self.input_order} (only 0, batch-time-feature, is read)"
        return None

    def _sizes(self) -> dict[str, tuple[int, int]]:
        e, h = self.embeding_size, self.num_heads
        return {"q": (e, self.qproj_size), "k": (self.k_size, self.kproj_size),
                "v": (self.v_size, self.vproj_size),
                "o": (self.vproj_size or self.v_size * h, self.oproj_size)}

    def packed_size(self) -> int:
        """How many values ``qkvo_weight_bias`` holds for these params."""
        biases = {"q": self.qbias, "k": self.kbias, "v": self.vbias, "o": self.obias}
        return sum(rows * cols + (cols if biases[k] else 0)
                   for k, (rows, cols) in self._sizes().items() if cols)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        why = self._refusal()
        if why is not None:
            self.fail(f"not supported: {why}", inputs)
        q, k, v, wb = inputs[:4]
        if any(i.dtype != F32 for i in inputs):
            self.fail("inputs must be float32", inputs)
        if not q.ndim == k.ndim == v.ndim == 3 or q.shape[0] != k.shape[0] or \
                k.shape[:2] != v.shape[:2]:
            self.fail("queries, keys and values must be (N, L, E), (N, S, k_size) and "
                      "(N, S, v_size)", inputs)
        n, lq, ls, h = q.shape[0], q.shape[1], k.shape[1], self.num_heads
        if (q.shape[2], k.shape[2], v.shape[2]) != (self.embeding_size, self.k_size,
                                                     self.v_size):
            self.fail(f"feature sizes must be embeding_size {self.embeding_size}, k_size "
                      f"{self.k_size} and v_size {self.v_size}", inputs)
        qp, kp, vp = self.qproj_size, self.kproj_size, self.vproj_size
        if h < 1 or qp != kp or (qp == 0 and self.embeding_size != self.k_size) or \
                qp % h or vp % h:
            self.fail("query and key heads must have one size; projections must divide "
                      "into num_heads", inputs)
        if int(np.prod(wb.shape)) != self.packed_size():
            self.fail(f"qkvo_weight_bias must hold {self.packed_size()} values", inputs)
        masked = self.tensor_combination_type == "ONLY_MASK"
        if masked != (len(inputs) == 5):
            self.fail(f"tensor_combination_type {self.tensor_combination_type} with "
                      f"{len(inputs)} inputs", inputs)
        if masked and inputs[4].shape not in ((lq, ls), (n * h, lq, ls)):
            self.fail(f"attn_mask must be ({lq}, {ls}) or ({n * h}, {lq}, {ls})", inputs)
        width = self.oproj_size or self.vproj_size or self.v_size * h
        mask_bytes, othr = self.reserve_sizes(n, lq, ls)
        return [TensorInfo((n, lq, width), F32), TensorInfo((n * h, lq, ls), F32),
                TensorInfo((mask_bytes,), np.dtype("uint8")), TensorInfo((othr,), F32)]

    def reserve_sizes(self, n: int, lq: int, ls: int) -> tuple[int, int]:
        """MegEngine's reserve-space lengths (its files record them): ``mask`` bytes (the
        two dropout masks while training, a byte per value) and ``othr`` float32 elements
        (the per-head intermediates), each a sum of 4-byte-aligned buffers plus 4 when not
        empty."""
        h = self.num_heads
        dq = self.qproj_size // h if self.qproj_size else self.embeding_size
        dk = self.kproj_size // h if self.kproj_size else self.k_size
        dv = self.vproj_size // h if self.vproj_size else self.v_size
        nx, out = n * h * lq * ls, n * lq * (self.oproj_size or dv * h)
        mask = [nx, out] if self.training else []
        othr = [n * h * lq * dq if h > 1 or self.qproj_size else 0,
                n * h * ls * dk if h > 1 or self.kproj_size else 0,
                n * h * ls * dv if h > 1 or self.vproj_size else 0,
                nx if self.training else 0,
                n * lq * dv * h if self.training or self.oproj_size else 0]
        mask_bytes = sum(-(-m // 4) * 4 for m in mask)  # one byte each, 4-aligned
        othr_bytes = 4 * sum(othr)
        return (mask_bytes + 4 if mask_bytes else 0), (othr_bytes + 4 if othr_bytes else 0) // 4


class AttnArrays:
    """The array primitives the kernel uses; this one is numpy's (the torch kernel and the
    ONNX rule subclass it, so the attention is written once)."""

    def matmul(self, a: Any, b: Any) -> Any:
        return np.matmul(a, b)

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return x.reshape(shape)

    def transpose(self, x: Any, perm: tuple[int, ...]) -> Any:
        return x.transpose(perm)

    def expand(self, x: Any, shape: tuple[int, ...]) -> Any:
        return np.broadcast_to(x, shape)

    def const(self, value: np.ndarray, like: Any) -> Any:
        return value

    def softmax(self, x: Any) -> Any:
        """Over the last axis: ``exp(x - max) / sum`` (a row of ``-inf`` gives NaN, as in
        MegEngine)."""
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


def _parts(xp: AttnArrays, op: MultiHeadAttn, packed: Any) -> dict[str, Any]:
    """``Wq, Wk, Wv, Wo`` then the biases, sliced from the packed parameter."""
    total = op.packed_size()
    flat, offset, parts = xp.reshape(packed, (total,)), 0, {}
    biases = {"q": op.qbias, "k": op.kbias, "v": op.vbias, "o": op.obias}
    sizes = op._sizes()
    spans = [("w" + k, (rows, cols)) for k, (rows, cols) in sizes.items() if cols]
    spans += [("b" + k, (cols,)) for k, (_, cols) in sizes.items() if cols and biases[k]]
    for name, shape in spans:
        size = int(np.prod(shape))
        parts[name] = xp.reshape(flat[offset:offset + size], shape)
        offset += size
    return parts


def _heads(xp: AttnArrays, parts: dict[str, Any], x: Any, name: str, h: int) -> Any:
    """``x (N, T, D)`` projected (on ``(N * T, D)``) and split: ``(N * h, T, D' / h)``;
    unprojected, every head sees all of ``x``."""
    n, t, d = x.shape
    if "w" + name not in parts:
        return xp.reshape(xp.expand(xp.reshape(x, (n, 1, t, d)), (n, h, t, d)), (n * h, t, d))
    y = xp.matmul(xp.reshape(x, (n * t, d)), parts["w" + name])
    if "b" + name in parts:
        y = y + parts["b" + name]
    size = y.shape[1] // h
    return xp.reshape(xp.transpose(xp.reshape(y, (n, t, h, size)), (0, 2, 1, 3)),
                      (n * h, t, size))


def attention(xp: AttnArrays, op: MultiHeadAttn, q: Any, k: Any, v: Any, packed: Any,
              mask: Any = None) -> tuple[Any, Any]:
    """``(out, attn_weight)`` of MegEngine's proxy kernel, on ``xp``'s arrays."""
    parts, h = _parts(xp, op, packed), op.num_heads
    n, lq, ls = q.shape[0], q.shape[1], k.shape[1]
    qh, kh, vh = (_heads(xp, parts, x, name, h) for x, name in ((q, "q"), (k, "k"), (v, "v")))
    scores = xp.matmul(qh, xp.transpose(kh, (0, 2, 1))) * float(op.sm_scaler)
    if mask is not None:
        scores = scores + mask
    if op.attn_mask_type == "DEFAULT_MASK":
        causal = np.where(np.triu(np.ones((lq, ls), bool), 1), -np.inf, 0).astype(F32)
        scores = scores + xp.const(causal, scores)
    weights = xp.softmax(scores)
    z = xp.matmul(weights, vh)
    dv = z.shape[2]
    z = xp.reshape(xp.transpose(xp.reshape(z, (n, h, lq, dv)), (0, 2, 1, 3)), (n * lq, h * dv))
    if "wo" in parts:
        z = xp.matmul(z, parts["wo"])
        if "bo" in parts:
            z = z + parts["bo"]
    return xp.reshape(z, (n, lq, z.shape[1])), weights


@NUMPY.kernel(MultiHeadAttn)
def multi_head_attn(op: MultiHeadAttn, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                    packed: np.ndarray, *mask: np.ndarray) -> tuple[np.ndarray, ...]:
    out, weights = attention(AttnArrays(), op, q, k, v, packed, mask[0] if mask else None)
    mask_bytes, othr = op.reserve_sizes(q.shape[0], q.shape[1], k.shape[1])  # unused: zeros
    return (np.ascontiguousarray(out, F32), np.ascontiguousarray(weights, F32),
            np.zeros((mask_bytes,), np.uint8), np.zeros((othr,), F32))
