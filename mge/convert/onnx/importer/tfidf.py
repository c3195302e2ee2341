"""ONNX converter for ``TfIdfVectorizer`` over integer tokens, written as MegEngine
comparisons, logical ands and sums over shifted slices (see :mod:`.node`).

Each pooled n-gram (``min_gram_length <= n <= max_gram_length``) is counted at every start
position and every skip distance ``1 .. max_skip_count + 1`` (unigrams once, at distance
1, as ONNX's reference counts them); the counts are weighted per ``mode`` (TF, IDF,
TFIDF) into the n-gram's output column.

Example:
    >>> import mge
    >>> op = TfIdf(((7,), (7, 8)), (0, 1), 1, 2, 0, "TF", None, 2)
    >>> op(None, mge.tensor([7, 8, 7])).numpy()
    array([2., 1.], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter


@dataclasses.dataclass(frozen=True)
class TfIdf(OnnxOp):
    """``grams[i]`` (token tuples) counted into output column ``columns[i]``."""

    grams: tuple[tuple[int, ...], ...]
    columns: tuple[int, ...]
    min_gram: int
    max_gram: int
    max_skip: int
    mode: str
    weights: tuple[float, ...] | None
    size: int

    def _count(self, x: Tensor, gram: tuple[int, ...]) -> Tensor | None:
        """How often ``gram`` occurs in each row of ``x`` ``[B, C]`` (float32)."""
        n, length = len(gram), x.shape[1]
        total = None
        for skip in range(1, (1 if n == 1 else self.max_skip + 1) + 1):
            span = length - (n - 1) * skip
            if span <= 0:
                break
            hit = None
            for j, token in enumerate(gram):
                part = x[:, j * skip:j * skip + span]
                same = F.equal(part, F.full_like(part, token))
                hit = same if hit is None else F.logical_and(hit, same)
            count = F.sum(F.astype(hit, "float32"), axis=1)
            total = count if total is None else F.add(total, count)
        return total

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        rows = x if x.ndim == 2 else F.reshape(x, (1, -1))
        columns: list[Tensor | None] = [None] * self.size
        for gram, column in zip(self.grams, self.columns):
            if not self.min_gram <= len(gram) <= self.max_gram:
                continue
            count = self._count(rows, gram)
            if count is not None:
                columns[column] = count if columns[column] is None else \
                    F.add(columns[column], count)
        zeros = F.zeros((rows.shape[0],), dtype="float32")
        out = F.stack([zeros if c is None else c for c in columns], axis=1)
        if self.mode != "TF":
            weights = F.reshape(Tensor(np.asarray(self.weights or [1.0] * self.size,
                                                  dtype=np.float32)), (1, -1))
            if self.mode == "IDF":
                out = F.astype(F.greater(out, F.zeros_like(out)), "float32")
            out = F.mul(out, weights)
        return out if x.ndim == 2 else F.reshape(out, (self.size,))


@converter("TfIdfVectorizer")
def _tfidf(node: Node, ctx: Any) -> Converted:
    pool = node.attr("pool_int64s")
    if pool is None:
        raise Unsupported("string pools (pool_strings): mge computes on numbers only")
    mode = node.attr("mode")
    if mode not in ("TF", "IDF", "TFIDF"):
        raise Unsupported(f"mode {mode!r}")
    pool = [int(v) for v in pool]
    starts = [int(v) for v in node.attr("ngram_counts")] + [len(pool)]
    grams = []
    for size, (begin, end) in enumerate(zip(starts, starts[1:]), start=1):
        grams += [tuple(pool[i:i + size]) for i in range(begin, end, size)]
    columns = tuple(int(v) for v in node.attr("ngram_indexes"))
    if len(columns) != len(grams):
        raise Unsupported(f"{len(columns)} ngram_indexes for {len(grams)} pooled n-grams")
    weights = node.attr("weights")
    op = TfIdf(tuple(grams), columns, int(node.attr("min_gram_length")),
               int(node.attr("max_gram_length")), int(node.attr("max_skip_count")), mode,
               None if weights is None else tuple(float(w) for w in weights),
               max(columns) + 1)
    return op, node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
