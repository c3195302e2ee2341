"""``Embedding``: a table of ``num_embeddings`` vectors looked up by integer index.

Example:
    >>> import mge, mge.module as M
    >>> emb = M.Embedding(10, 4)
    >>> emb(mge.tensor([[1, 2, 3]])).shape
    (1, 3, 4)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Parameter, Tensor
from . import init
from .module import Module


class Embedding(Module):
    """``weight[inp]``: rows of a ``(num_embeddings, embedding_dim)`` table (``F.embedding``).

    The weight starts as N(0, 1), or as ``initial_weight``. ``freeze`` detaches it in
    the forward pass. ``padding_idx``, ``max_norm`` and ``norm_type`` are not supported, as
    in MegEngine (``ValueError``).

    Example:
        >>> w = mge.tensor([[0.0, 1.0], [2.0, 3.0]])
        >>> M.Embedding.from_pretrained(w)(mge.tensor([1])).numpy()
        array([[2., 3.]], dtype=float32)
    """

    def __init__(
        self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
        max_norm: float | None = None, norm_type: float | None = None,
        initial_weight: Parameter | None = None, freeze: bool = False, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if padding_idx is not None:
            raise ValueError("Not support padding index now.")
        if max_norm is not None or norm_type is not None:
            raise ValueError("Not support weight normalize now.")
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.freeze = freeze
        if initial_weight is None:
            self.weight = Parameter(np.zeros((num_embeddings, embedding_dim), np.float32))
            self.reset_parameters()
        else:
            value = np.asarray(initial_weight.numpy(), np.float32)
            if value.shape != (num_embeddings, embedding_dim):
                raise ValueError("The weight shape should match num_embeddings and embedding_dim")
            self.weight = Parameter(value)

    def reset_parameters(self) -> None:
        """Weight ~ N(0, 1)."""
        init.normal_(self.weight)

    def forward(self, inputs: Tensor) -> Tensor:
        weight = self.weight.detach() if self.freeze else self.weight
        return F.embedding(inputs, weight)

    @classmethod
    def from_pretrained(
        cls, embeddings: Parameter, freeze: bool | None = True, padding_idx: int | None = None,
        max_norm: float | None = None, norm_type: float | None = None,
    ) -> Embedding:
        """An Embedding whose table is ``embeddings`` (2-d), frozen unless ``freeze=False``."""
        if len(embeddings.shape) != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(num_embeddings=rows, embedding_dim=cols, initial_weight=embeddings,
                   padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   freeze=bool(freeze))


__all__ = ["Embedding"]
