"""ONNX converter for ``Attention`` (opsets 23 to 25): scaled dot-product attention with
masks, a causal or sliding-window frontier, grouped KV heads, a past KV cache and
softcapping, written with MegEngine's matmul, elementwise and reduction ops.

The computation follows ONNX's reference (``onnx/reference/ops/op_attention.py``) step by
step, so the rounding matches it: ``Q`` and ``K`` are each scaled by ``sqrt(scale)``
(rounded to ``Q``'s type), ``softcap * tanh(QK / softcap)`` comes before the additive bias,
a boolean mask becomes ``0``/``-inf``, and a query row whose bias is ``-inf`` everywhere
(no key may be attended) gives zeros instead of NaN. 3-d inputs ``[batch, seq,
heads * head]`` are split into heads with ``q_num_heads``/``kv_num_heads``.

Example:
    >>> import mge
    >>> q = k = v = mge.tensor(np.eye(2, dtype="float32").reshape(1, 1, 2, 2))
    >>> op = Attention(scale=1.0, causal=True)
    >>> op(None, q, k, v).numpy().round(3)  # the first query sees the first key only
    array([[[[1.   , 0.   ],
             [0.269, 0.731]]]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .... import functional as F
from ....core.apply import observing
from ....functional.attention_core import additive_mask, scaled_dot_product
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter, elem_dtype

_INPUTS = ("q", "k", "v", "mask", "past_key", "past_value", "nonpad")


@dataclasses.dataclass(frozen=True)
class Attention(OnnxOp):
    """ONNX Attention with its attributes; ``given`` names the optional inputs present
    (in ONNX order) and ``wanted`` which of the four outputs the node uses."""

    scale: float | None = None
    causal: bool = False
    q_heads: int = 0
    kv_heads: int = 0
    softcap: float = 0.0
    softmax_dtype: str | None = None
    qk_mode: int = 0
    left_window: int = -1
    right_window: int = -1
    given: tuple[str, ...] = ("q", "k", "v")
    wanted: tuple[bool, bool, bool, bool] = (True, False, False, False)
    static_lengths: bool = True  # the sequence lengths are known at import time

    def __call__(self, mod: Any, *inputs: Tensor) -> Tensor | tuple[Tensor, ...]:
        args: dict[str, Tensor | None] = dict.fromkeys(_INPUTS)
        args.update(zip(self.given, inputs))
        q, k, v = args["q"], args["k"], args["v"]
        assert q is not None and k is not None and v is not None
        if not q.ndim == k.ndim == v.ndim or q.ndim not in (3, 4):
            raise ValueError(f"Attention: Q, K and V must all be 3-d or all 4-d, got shapes "
                             f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
        if (args["past_key"] is None) != (args["past_value"] is None):
            raise ValueError("Attention: past_key and past_value must be given together")
        if args["nonpad"] is not None and args["past_key"] is not None:
            raise ValueError("Attention: nonpad_kv_seqlen cannot be combined with a past "
                             "KV cache")
        masked = self.causal or self.left_window >= 0 or self.right_window >= 0 or \
            args["mask"] is not None or args["nonpad"] is not None
        if masked and not self.static_lengths and observing():
            raise ValueError("Attention: the masks are built for the traced call's sequence "
                             "lengths, which the model leaves symbolic: a traced graph (.mge, "
                             "from_onnx(trace=True)) would apply them at every length; "
                             "import with trace=False")
        rank3 = q.ndim == 3
        if rank3:
            if not (self.q_heads and self.kv_heads):
                raise ValueError("Attention: 3-d inputs need q_num_heads and kv_num_heads")
            q, k, v = (_split_heads(t, h, name) for t, h, name in
                       ((q, self.q_heads, "Q"), (k, self.kv_heads, "K"),
                        (v, self.kv_heads, "V")))
        dtype = np.dtype(q.dtype)
        head = q.shape[3]
        scale = 1 / math.sqrt(head) if self.scale is None else self.scale
        if args["past_key"] is not None:
            k = F.concat([args["past_key"], k], axis=2)
            v = F.concat([args["past_value"], v], axis=2)
        present_k, present_v = k, v
        q_len, kv_len = q.shape[2], k.shape[2]
        past = args["past_key"].shape[2] if args["past_key"] is not None else 0
        bias = self._bias(args["mask"], args["nonpad"], dtype, q.shape[0], q_len, kv_len,
                          past)
        k, v = self._grouped(q, k, v)
        parts = scaled_dot_product(q, k, v, scale, bias, split_scale=True,
                                   softcap=self.softcap, softmax_dtype=self.softmax_dtype,
                                   safe_rows=True)
        y = parts.out
        exposed = {2: parts.scores, 3: parts.weights}.get(self.qk_mode, parts.qk)
        if rank3:
            y = F.transpose(y, (0, 2, 1, 3))
            y = F.reshape(y, (y.shape[0], y.shape[1], -1))
        outputs = (y, present_k, present_v, F.astype(exposed, dtype))
        chosen = tuple(out for out, wanted in zip(outputs, self.wanted) if wanted)
        return chosen[0] if len(chosen) == 1 else chosen

    def _grouped(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """K and V with each KV head repeated for its group of query heads."""
        q_heads, k_heads, v_heads = q.shape[1], k.shape[1], v.shape[1]
        if q_heads == k_heads == v_heads:
            return k, v
        if k_heads != v_heads or q_heads % k_heads:
            raise ValueError(f"Attention: {q_heads} query heads cannot be grouped over "
                             f"{k_heads} key and {v_heads} value heads")
        reps = q_heads // k_heads
        return F.repeat(k, reps, axis=1), F.repeat(v, reps, axis=1)

    def _bias(self, mask: Tensor | None, nonpad: Tensor | None, dtype: np.dtype, batch: int,
              q_len: int, kv_len: int, past: int) -> Tensor | None:
        """The additive bias: the mask (boolean ones as ``0``/``-inf``, padded with
        ``-inf`` to ``kv_len``), the causal and window frontiers, the key padding."""
        bias = None
        if mask is not None:
            mask = additive_mask(mask, dtype, true_means="attend")
            if mask.shape[-1] < kv_len:
                width = [(0, 0)] * (mask.ndim - 1) + [(0, kv_len - mask.shape[-1])]
                mask = F.nn.pad(mask, width, constant_value=float("-inf"))
            bias = mask
        # offsets: where each query block starts among the keys (per batch for nonpad)
        offset: Tensor | int = past
        if nonpad is not None:
            offset = F.reshape(F.sub(F.astype(nonpad, "int32"), q_len), (-1, 1, 1))
        frontiers = []
        if self.causal:
            frontiers.append((-1, 0))
        if self.left_window >= 0 or self.right_window >= 0:
            frontiers.append((self.left_window, self.right_window))
        for left, right in frontiers:
            bias = _add(bias, _band(offset, left, right, q_len, kv_len, dtype))
        if nonpad is not None:
            keys = Tensor(np.arange(kv_len, dtype=np.int32))
            keep = F.less(keys, F.reshape(F.astype(nonpad, "int32"), (-1, 1)))
            padding = F.where(keep, Tensor(np.zeros((), dtype)),
                              Tensor(np.full((), -np.inf, dtype)))
            bias = _add(bias, F.reshape(padding, (batch, 1, 1, kv_len)))
        if bias is not None and bias.ndim < 2:
            bias = F.add(bias, Tensor(np.zeros((q_len, kv_len), dtype)))
        return bias


def _add(bias: Tensor | None, term: Tensor) -> Tensor:
    return term if bias is None else F.add(bias, term)


def _band(offset: Tensor | int, left: int, right: int, q_len: int, kv_len: int,
          dtype: np.dtype) -> Tensor:
    """``0`` where query ``i`` may attend key ``j`` (``-left <= (i + offset) - j``, and
    ``j - (i + offset) <= right``; a negative bound is open; ``left = -1, right = 0`` is
    the causal frontier), ``-inf`` elsewhere: ``[q, kv]``, or ``[batch, 1, q, kv]`` for a
    per-batch offset."""
    rows = np.arange(q_len).reshape(q_len, 1)
    cols = np.arange(kv_len).reshape(1, kv_len)
    if isinstance(offset, int):
        diff = rows + offset - cols
        allowed = np.ones_like(diff, dtype=bool)
        if left >= 0:
            allowed &= diff <= left
        if right >= 0:
            allowed &= -diff <= right
        return Tensor(np.where(allowed, 0, -np.inf).astype(dtype))
    diff = F.sub(F.add(Tensor(rows.astype(np.int32)), offset), Tensor(cols.astype(np.int32)))
    allowed = None
    if left >= 0:
        allowed = F.less_equal(diff, left)
    if right >= 0:
        upper = F.less_equal(F.neg(diff), right)
        allowed = upper if allowed is None else F.logical_and(allowed, upper)
    assert allowed is not None
    band = F.where(allowed, Tensor(np.zeros((), dtype)), Tensor(np.full((), -np.inf, dtype)))
    return F.expand_dims(band, 1)


def _split_heads(x: Tensor, heads: int, name: str) -> Tensor:
    """``[batch, seq, heads * size]`` -> ``[batch, heads, seq, size]``."""
    batch, seq, hidden = x.shape
    if hidden % heads:
        raise ValueError(f"Attention: {name} hidden size {hidden} is not a multiple of "
                         f"{heads} heads")
    return F.transpose(F.reshape(x, (batch, seq, heads, hidden // heads)), (0, 2, 1, 3))


def _known(shape: tuple[int | None, ...] | None, axis: int) -> bool:
    """Whether a value's axis has a size known at import time."""
    return shape is not None and -len(shape) <= axis < len(shape) and shape[axis] is not None


@converter("Attention")
def _attention(node: Node, ctx: Any) -> Converted:
    softmax_dtype = None
    if "softmax_precision" in node.attrs:
        softmax_dtype = elem_dtype(int(node.attr("softmax_precision")),
                                   "Attention's softmax_precision").name
    mode = int(node.attr("qk_matmul_output_mode", 0))
    if mode not in (0, 1, 2, 3):
        raise Unsupported(f"qk_matmul_output_mode={mode} (ONNX defines 0 to 3)")
    left, right = int(node.attr("left_window_size", -1)), int(node.attr("right_window_size", -1))
    if left < -1 or right < -1:
        raise Unsupported(f"window sizes ({left}, {right}) must be -1 or nonnegative")
    q_shape = ctx.shapes.get(node.input(0))
    if q_shape is not None and len(q_shape) == 4 and ctx.opset >= 25 and \
            ("q_num_heads" in node.attrs or "kv_num_heads" in node.attrs):
        raise Unsupported("q_num_heads/kv_num_heads must not be given for 4-d inputs")
    scale = node.attr("scale")
    seq_axis = 2 if q_shape is not None and len(q_shape) == 4 else 1
    lengths = [(node.input(0), seq_axis), (node.input(1), seq_axis), (node.input(3), -1),
               (node.input(4), 2)]
    static = all(_known(ctx.shapes.get(name), axis) for name, axis in lengths if name)
    given = tuple(name for name, onnx_name in zip(_INPUTS, node.inputs) if onnx_name)
    wanted = tuple(bool(node.outputs[i]) if i < len(node.outputs) else False
                   for i in range(4))
    op = Attention(
        scale=None if scale is None else float(scale),
        causal=bool(node.attr("is_causal", 0)),
        q_heads=int(node.attr("q_num_heads", 0)),
        kv_heads=int(node.attr("kv_num_heads", 0)),
        softcap=float(node.attr("softcap", 0.0)),
        softmax_dtype=softmax_dtype,
        qk_mode=mode,
        left_window=left,
        right_window=right,
        given=given,
        wanted=wanted,  # type: ignore[arg-type]
        static_lengths=static,
    )
    return op, [i for i in node.inputs if i], [o for o in node.outputs if o]


__all__: list[str] = []
