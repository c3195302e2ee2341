"""ONNX converter for ``RotaryEmbedding`` (rotary position embeddings), written with
MegEngine's indexing, elementwise ops and concatenation (see :mod:`.node`).

The input is ``[batch, heads, seq, head]`` or ``[batch, seq, hidden]`` (with
``num_heads``); the first ``rotary_embedding_dim`` features of each head are rotated as
pairs (the two halves, or neighbours when ``interleaved``) by the cached cosines and sines,
picked by ``position_ids`` when given.

Example:
    >>> import mge
    >>> x = mge.tensor(np.ones((1, 1, 1, 2)))  # batch, heads, seq, head
    >>> cos, sin = mge.tensor([[[0.0]]]), mge.tensor([[[1.0]]])  # a quarter turn
    >>> Rotary(False, 0, 0)(None, x, cos, sin).numpy()
    array([[[[-1.,  1.]]]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np  # noqa: F401  (doctest namespace)

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter


@dataclasses.dataclass(frozen=True)
class Rotary(OnnxOp):
    """ONNX RotaryEmbedding with its attributes (``rotary_dim`` 0: the whole head)."""

    interleaved: bool
    rotary_dim: int
    num_heads: int

    def __call__(self, mod: Any, x: Tensor, cos: Tensor, sin: Tensor,
                 positions: Tensor | None = None) -> Tensor:
        shape = tuple(x.shape)
        if x.ndim == 4:
            y = F.transpose(x, (0, 2, 1, 3))
        else:
            if not self.num_heads:
                raise ValueError(f"RotaryEmbedding: a 3-d input {shape} needs num_heads")
            y = F.reshape(x, (shape[0], shape[1], self.num_heads, -1))
        batch, seq, _, head = y.shape
        dim = self.rotary_dim or head
        if positions is not None:
            flat = F.reshape(F.astype(positions, "int32"), (-1,))
            cos = F.reshape(cos[flat], (batch, seq, -1))
            sin = F.reshape(sin[flat], (batch, seq, -1))
        if cos.shape[-1] != dim // 2 or sin.shape[-1] != dim // 2:
            raise ValueError(f"RotaryEmbedding: caches {cos.shape}/{sin.shape} must end in "
                             f"rotary_embedding_dim/2 = {dim // 2}")
        cos, sin = F.expand_dims(cos, 2), F.expand_dims(sin, 2)
        rotate = y[..., :dim]
        if self.interleaved:
            first, second = rotate[..., 0::2], rotate[..., 1::2]
        else:
            first, second = rotate[..., :dim // 2], rotate[..., dim // 2:]
        real = F.sub(F.mul(cos, first), F.mul(sin, second))
        imag = F.add(F.mul(sin, first), F.mul(cos, second))
        if self.interleaved:
            turned = F.reshape(F.stack([real, imag], axis=-1), tuple(rotate.shape))
        else:
            turned = F.concat([real, imag], axis=-1)
        out = F.concat([turned, y[..., dim:]], axis=-1) if dim < head else turned
        return F.transpose(out, (0, 2, 1, 3)) if x.ndim == 4 else F.reshape(out, shape)


@converter("RotaryEmbedding")
def _rotary(node: Node, ctx: Any) -> Converted:
    dim = int(node.attr("rotary_embedding_dim", 0))
    if dim % 2:
        raise Unsupported(f"rotary_embedding_dim {dim} must be even")
    op = Rotary(bool(node.attr("interleaved", 0)), dim, int(node.attr("num_heads", 0)))
    return op, [i for i in node.inputs if i], node.outputs[:1]


__all__: list[str] = []
