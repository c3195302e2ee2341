"""Multi-head attention (MegEngine ``F.nn.multi_head_attention``), composed of matmul and softmax.

MegEngine 1.13 runs it as one ``MultiHeadAttn`` operator whose CPU kernel is a proxy over
MatrixMul, BatchedMatrixMul, Softmax and Dropout; mge records those pieces instead, so a
traced model dumps and runs wherever they do. The math, for ``H`` heads::

    Q = query @ Wq + bq;  K = key @ Wk + bk;  V = value @ Wv + bv      (``Y = X @ W``)
    A = softmax(Q_h @ K_h^T * head_dim ** -0.5 + mask)   (per head h; F.attention_core)
    out = concat_h(A_h @ V_h) @ Wo + bo

``io_weight_bias`` is one ``(1, n)`` tensor holding, in this order, the weights
``Wq (E, qproj)``, ``Wk (kdim, kproj)``, ``Wv (vdim, vproj)``, ``Wo (vproj, oproj)`` then the
biases ``bq, bk, bv, bo`` (a projection of size 0 is absent: the heads then share the
unprojected input). Boolean masks mark the positions to ignore (``True`` becomes ``-inf``),
float masks are added to the scores.

Example:
    >>> import numpy as np, mge, mge.functional as F
    >>> x = mge.tensor(np.ones((1, 2, 4), np.float32))
    >>> w = mge.tensor(np.full((1, 4 * 16), 0.1, np.float32))
    >>> out, _ = F.nn.multi_head_attention(x, x, x, 4, 2, 0.0, 0.0, w)
    >>> out.shape
    (1, 2, 4)
"""

from __future__ import annotations

import numpy as np

from ..core.tensor.base import Tensor
from ..core.tracing import traceable
from ._args import slice_axis
from .attention_core import additive_mask, scaled_dot_product
from .elemwise import add
from .math import matmul, mean
from .nn import dropout
from .tensor import broadcast_to, expand_dims, reshape, squeeze, transpose

__all__ = ["multi_head_attention"]

_FN = "multi_head_attention"


def _check_shapes(query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None,
                  attn_mask: Tensor | None, num_heads: int) -> bool:
    """MegEngine's shape checks (``AssertionError`` in its words); True when batched."""
    if query.ndim not in (2, 3):
        raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.ndim}-D query tensor")
    batched = query.ndim == 3
    what = "batched (3-D)" if batched else "unbatched (2-D)"
    assert key.ndim == query.ndim and value.ndim == query.ndim, (
        f"For {what} `query`, expected `key` and `value` to be {query.ndim}-D but found "
        f"{key.ndim}-D and {value.ndim}-D tensors respectively")
    q, k, v = (tuple(t.shape) if batched else (1, *t.shape) for t in (query, key, value))
    assert q[0] == k[0] == v[0], (
        f"For {what} `query`, expected the batch sizes of `query`, `key` and `value` to be "
        f"equal but found {q[0]}, {k[0]} and {v[0]}")
    assert k[1] == v[1], (
        f"For {what} `query`, expected the sequence length of `key` and `value` to be equal "
        f"but found key seqlen is {k[1]} and value seqlen is {v[1]} respectively")
    if key_padding_mask is not None:
        want = (k[0], k[1]) if batched else (k[1],)
        assert tuple(key_padding_mask.shape) == want, (
            f"For {what} `query`, expected `key_padding_mask.shape` equal {want} but found "
            f"{tuple(key_padding_mask.shape)} instead")
    if attn_mask is not None:
        shape = tuple(attn_mask.shape)
        want3 = (q[0] * num_heads, q[1], k[1])
        assert shape in ((q[1], k[1]), want3), (
            f"Expected `attn_mask` shape to be {(q[1], k[1])} or {want3} but got {shape}")
    return batched


def _additive(mask: Tensor | None, name: str, dtype: np.dtype) -> Tensor | None:
    """A boolean mask as ``-inf`` where True and 0 elsewhere; a float mask as it is."""
    if mask is not None:
        kind = np.dtype(mask.dtype)
        assert kind == np.bool_ or kind.kind == "f", (
            f"only bool and floating types of {name} are supported")
    return additive_mask(mask, dtype, true_means="ignore")


def _merged_mask(attn_mask: Tensor | None, key_padding_mask: Tensor | None, is_causal: bool,
                 n: int, heads: int, lq: int, ls: int, dtype: np.dtype) -> Tensor | None:
    """The mask added to the scores, ``(L, S)`` or ``(N * heads, L, S)``, as MegEngine merges
    them: ``is_causal`` applies only when no key padding mask is given, and a given
    ``attn_mask`` takes its place."""
    if is_causal and key_padding_mask is None:
        if attn_mask is not None:
            return attn_mask
        upper = np.triu(np.ones((lq, ls), bool), 1)
        return Tensor(np.where(upper, -np.inf, 0.0).astype(dtype))
    if key_padding_mask is None:
        return attn_mask
    padding = reshape(key_padding_mask, (n, 1, 1, ls))
    if attn_mask is None:
        merged = broadcast_to(padding, (n, heads, lq, ls))
    elif attn_mask.ndim == 2:
        merged = broadcast_to(add(reshape(attn_mask, (1, 1, lq, ls)), padding),
                              (n, heads, lq, ls))
    else:
        merged = add(reshape(attn_mask, (n, heads, lq, ls)), padding)
    return reshape(merged, (n * heads, lq, ls))


class _Packed:
    """Slices of ``io_weight_bias`` in MegEngine's order (weights, then biases)."""

    def __init__(self, flat: Tensor, sizes: dict[str, tuple[int, int]], biases: dict[str, bool]):
        spans = [("w" + k, (rows, cols)) for k, (rows, cols) in sizes.items() if cols]
        spans += [("b" + k, (cols,)) for k, (_, cols) in sizes.items() if cols and biases[k]]
        need = sum(int(np.prod(shape)) for _, shape in spans)
        if need != flat.shape[0]:
            raise ValueError(
                f"{_FN}: io_weight_bias holds {flat.shape[0]} values, the weights and biases "
                f"{dict(spans)} need {need}")
        self.parts: dict[str, Tensor] = {}
        offset = 0
        for name, shape in spans:  # one Subtensor each (and a Reshape for a matrix)
            size = int(np.prod(shape))
            part = slice_axis(flat, 0, offset, offset + size)
            self.parts[name] = part if len(shape) == 1 else reshape(part, shape)
            offset += size

    def project(self, x: Tensor, name: str) -> Tensor:
        if "w" + name not in self.parts:
            return x
        y = matmul(x, self.parts["w" + name])
        return add(y, self.parts["b" + name]) if "b" + name in self.parts else y


def _heads(packed: _Packed, x: Tensor, name: str, heads: int, flat: dict[int, Tensor]
           ) -> Tensor:
    """``x (N, T, D)`` projected and split into heads, ``(N * heads, T, D' / heads)``;
    unprojected, every head sees all of x. The projection runs on ``x`` flattened to
    ``(N * T, D)`` (``flat`` keeps that per input, so self-attention flattens once): the
    one ``MatrixMul`` ``F.matmul`` would run, without its reshapes around it."""
    n, t, d = x.shape
    if "w" + name not in packed.parts:
        return reshape(broadcast_to(expand_dims(x, 1), (n, heads, t, d)), (n * heads, t, d))
    if id(x) not in flat:
        flat[id(x)] = reshape(x, (n * t, d))
    y = packed.project(flat[id(x)], name)
    size = y.shape[1] // heads
    return reshape(transpose(reshape(y, (n, t, heads, size)), (0, 2, 1, 3)),
                   (n * heads, t, size))


@traceable
def multi_head_attention(
    query: Tensor, key: Tensor, value: Tensor, embed_dim: int, num_heads: int,
    attn_drop: float, out_drop: float, io_weight_bias: Tensor | None,
    qproj_size: int | None = None, kproj_size: int | None = None,
    vproj_size: int | None = None, oproj_size: int | None = None,
    qbias: bool = False, kbias: bool = False, vbias: bool = False, obias: bool = False,
    bias_k: Tensor | None = None, bias_v: Tensor | None = None, add_zero_attn: bool = False,
    key_padding_mask: Tensor | None = None, attn_mask: Tensor | None = None,
    need_weights: bool = False, average_attn_weights: bool = False, is_causal: bool = False,
    maybe_cudnn_style_mask: bool = False, reslink: bool = False, training: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention of ``query (N, L, E)`` over ``key (N, S, kdim)`` and
    ``value (N, S, vdim)`` (2-D inputs: one unbatched sequence); see the module docstring.

    Returns ``(out, weights)``: ``out (N, L, oproj_size)``; ``weights`` (the softmax, after
    attention dropout) ``(N * num_heads, L, S)``, averaged over heads to ``(N, L, S)`` with
    ``average_attn_weights``, or None unless ``need_weights``. Dropout applies only when
    ``training``. As in MegEngine: ``bias_k``/``bias_v``, ``add_zero_attn`` and ``reslink``
    are refused (``AssertionError``), so are wrong mask shapes and dtypes. cuDNN-style masks
    (``maybe_cudnn_style_mask``) run only on cuDNN in MegEngine: refused
    (``NotImplementedError``).

    Example:
        >>> import mge, mge.functional as F
        >>> q = mge.tensor(np.ones((2, 3, 4), np.float32))
        >>> w = mge.tensor(np.full((1, 4 * 16 + 4 * 4), 0.1, np.float32))
        >>> out, wts = F.nn.multi_head_attention(q, q, q, 4, 2, 0.0, 0.0, w, qbias=True,
        ...     kbias=True, vbias=True, obias=True, need_weights=True, training=False)
        >>> out.shape, wts.shape
        ((2, 3, 4), (4, 3, 3))
    """
    sizes = [embed_dim if s is None else s for s in (qproj_size, kproj_size, vproj_size,
                                                      oproj_size)]
    for flag, size, what in zip((qbias, kbias, vbias, obias), sizes,
                                ("query", "key", "value", "output")):
        assert not flag or size > 0, (
            f"when {what} projection bias is true, {what} projection weight must be given")
    for name, bad in (("add_zero_attn", add_zero_attn), ("bias_k", bias_k is not None),
                      ("bias_v", bias_v is not None), ("reslink", reslink)):
        assert not bad, (f"{name} should be {'None' if 'bias' in name else 'False'}: "
                         "MegEngine 1.13 does not support it")
    if maybe_cudnn_style_mask:
        assert attn_mask is not None and key_padding_mask is not None, (
            "if maybe_cudnn_style_mask, must given attn_mask and key_padding_mask.")
        raise NotImplementedError(
            f"{_FN}: cuDNN-style masks (maybe_cudnn_style_mask=True, attn_mask (2, L) and "
            "key_padding_mask (2, N) of window indices) run only on cuDNN in MegEngine; "
            "pass boolean or float masks instead")
    if io_weight_bias is None and any(sizes):
        raise ValueError(f"{_FN}: io_weight_bias is None but projections {sizes} are asked for")
    batched = _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = (expand_dims(t, 0) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = expand_dims(key_padding_mask, 0)
    n, lq, e = query.shape
    ls, kdim, vdim = key.shape[1], key.shape[2], value.shape[2]
    if e != embed_dim:
        raise ValueError(f"{_FN}: query's last dim is {e}, embed_dim is {embed_dim} "
                         f"(query {tuple(query.shape)})")
    qp, kp, vp, op = sizes
    if qp != kp or (qp == 0 and e != kdim):
        raise ValueError(f"{_FN}: query and key heads differ in size (qproj_size {qp}, "
                         f"kproj_size {kp}, embed_dim {e}, kdim {kdim})")
    dtype = np.dtype(query.dtype)
    packed = _Packed(
        reshape(io_weight_bias, (-1,)) if io_weight_bias is not None else Tensor(
            np.zeros(0, dtype)),
        {"q": (e, qp), "k": (kdim, kp), "v": (vdim, vp), "o": (vp or vdim * num_heads, op)},
        {"q": qbias, "k": kbias, "v": vbias, "o": obias})
    mask = _merged_mask(_additive(attn_mask, "attn_mask", dtype),
                        _additive(key_padding_mask, "key_padding_mask", dtype),
                        is_causal, n, num_heads, lq, ls, dtype)
    flat: dict[int, Tensor] = {}
    heads = [_heads(packed, x, name, num_heads, flat)
             for x, name in ((query, "q"), (key, "k"), (value, "v"))]
    head_dim = embed_dim if qp == 0 else embed_dim // num_heads
    parts = scaled_dot_product(*heads, float(head_dim) ** -0.5, mask, dropout=attn_drop,
                               training=training)
    dv = parts.out.shape[2]
    z = transpose(reshape(parts.out, (n, num_heads, lq, dv)), (0, 2, 1, 3))
    width = num_heads * dv
    if "wo" in packed.parts:  # one 2-d MatrixMul, as in _heads
        z = packed.project(reshape(z, (n * lq, width)), "o")
        width = z.shape[1]
    out = dropout(reshape(z, (n, lq, width)), out_drop, training=training)
    if not need_weights:
        return (out if batched else squeeze(out, 0)), None
    weights = parts.weights
    if average_attn_weights:
        weights = mean(reshape(weights, (n, num_heads, lq, ls)), axis=1)
        weights = weights if batched else squeeze(weights, 0)
    return (out if batched else squeeze(out, 0)), weights
