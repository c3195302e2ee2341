"""``MultiHeadAttention``: MegEngine's attention layer, all projections in one parameter.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> attn = M.MultiHeadAttention(8, 2)
    >>> x = mge.tensor(np.ones((2, 3, 8), np.float32))
    >>> attn(x, x, x)[0].shape
    (2, 3, 8)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..functional.attention import multi_head_attention
from ..tensor import Parameter, Tensor
from . import init
from .module import Module


class MultiHeadAttention(Module):
    """Attention of ``num_heads`` heads of ``embed_dim // num_heads`` features
    (``F.nn.multi_head_attention``), with MegEngine's parameters.

    ``io_weight_bias`` is one ``(1, (2 * embed_dim + kdim + vdim) * embed_dim [+ 4 *
    embed_dim])`` parameter: the query, key, value and output weights, each ``(in, out)``
    (``Y = X @ W``, transposed against PyTorch), then the four biases when ``bias``. It starts
    Glorot-uniform over that whole row with zero biases, as MegEngine's. As in MegEngine 1.13,
    ``add_bias_kv`` and ``add_zero_attn`` are refused (``AssertionError``) and
    ``reset_parameters`` sets both dropout probabilities to 0, so the layer never drops.

    Example:
        >>> attn = M.MultiHeadAttention(4, 2, kdim=3, bias=False)
        >>> attn.io_weight_bias.shape
        (1, 60)
    """

    def __init__(
        self, embed_dim: int, num_heads: int, attn_dropout: float = 0.0,
        out_dropout: float = 0.0, bias: bool = True, add_bias_kv: bool = False,
        add_zero_attn: bool = False, kdim: int | None = None, vdim: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.add_bias_kv = add_bias_kv
        self.add_zero_attn = add_zero_attn
        self.num_heads = num_heads
        self.attn_dropout = attn_dropout
        self.out_dropout = out_dropout
        self.head_dim = embed_dim // num_heads
        assert self.head_dim * num_heads == embed_dim, "embed_dim must be divisible by num_heads"
        assert not add_bias_kv, "add_bias_kv should be set to False: MegEngine 1.13 refuses it"
        assert not add_zero_attn, "add_zero_attn should be set to False: MegEngine 1.13 refuses it"
        self.bias = bias
        self.weight_bias_len = (2 * embed_dim + self.kdim + self.vdim) * embed_dim + (
            4 * embed_dim if bias else 0)
        self.io_weight_bias = Parameter(np.empty((1, self.weight_bias_len), np.float32))
        self.bias_k: Parameter | None = None
        self.bias_v: Parameter | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights, zero biases; dropout probabilities back to 0 (MegEngine's)."""
        self.attn_dropout = 0.0
        self.out_dropout = 0.0
        init.xavier_uniform_(self.io_weight_bias)
        if self.bias:
            weights = (2 * self.embed_dim + self.kdim + self.vdim) * self.embed_dim
            self.io_weight_bias[0, weights:] = 0

    def forward(
        self, query: Tensor, key: Tensor, value: Tensor,
        key_padding_mask: Tensor | None = None, attn_mask: Tensor | None = None,
        need_weights: bool = False, average_attn_weights: bool = False,
        is_causal: bool = False, maybe_cudnn_style_mask: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """``(out (N, L, embed_dim), weights or None)``; see ``F.nn.multi_head_attention``."""
        return multi_head_attention(
            query, key, value, self.embed_dim, self.num_heads, self.attn_dropout,
            self.out_dropout, self.io_weight_bias, qproj_size=self.embed_dim,
            kproj_size=self.embed_dim, vproj_size=self.embed_dim, oproj_size=self.embed_dim,
            qbias=self.bias, kbias=self.bias, vbias=self.bias, obias=self.bias,
            bias_k=self.bias_k, bias_v=self.bias_v, add_zero_attn=self.add_zero_attn,
            training=self.training, key_padding_mask=key_padding_mask,
            need_weights=need_weights, attn_mask=attn_mask,
            average_attn_weights=average_attn_weights, is_causal=is_causal,
            maybe_cudnn_style_mask=maybe_cudnn_style_mask,
        )

    def _module_info_string(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, bias={self.bias}, "
                f"kdim={self.kdim}, vdim={self.vdim}")
