"""ONNX converter for ``Einsum``, written as MegEngine diagonals (gathers), transposes,
broadcast products and sums (see :mod:`.node`).

The equation is parsed once at import (explicit ``->`` output or the implicit one:
the letters seen once, sorted; ``...`` for broadcast axes). Each operand takes the
diagonal of a repeated letter, is laid out on the equation's letter order (size-1 axes for
letters it lacks), and the operands are multiplied left to right, each letter summed
away as soon as no later operand and not the output needs it.

Example:
    >>> import mge
    >>> op = Einsum(("ij", "jk"), "ik")
    >>> op(None, mge.tensor([[1.0, 2.0]]), mge.tensor([[3.0], [4.0]])).numpy()
    array([[11.]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter

_ELLIPSIS_LETTERS = "0123456789"  # stand-ins for the axes of ``...``


def parse(equation: str, ranks: list[int] | None = None) -> tuple[tuple[str, ...], str]:
    """``(operand terms, output term)`` of an einsum equation, ``...`` expanded to digits
    when the operand ``ranks`` are known (else kept, and an implicit output is None)."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if ranks is not None:
        width = max([r - len(t.replace("...", "")) for t, r in zip(terms, ranks)
                     if "..." in t] or [0])
        dots = _ELLIPSIS_LETTERS[:width]
        expanded = []
        for term, rank in zip(terms, ranks):
            if "..." in term:
                own = rank - len(term.replace("...", ""))
                term = term.replace("...", dots[width - own:])
            expanded.append(term)
        terms = expanded
        output = output.replace("...", dots) if arrow else output
        if not arrow:
            once = sorted(c for c in set("".join(terms)) if c.isalpha()
                          and "".join(terms).count(c) == 1)
            output = dots + "".join(once)
    elif not arrow:
        output = None  # decided once the ranks are known
    return tuple(terms), output


def _diagonal(x: Tensor, term: str) -> tuple[Tensor, str]:
    """``x`` with each repeated letter of ``term`` reduced to its diagonal."""
    while len(set(term)) < len(term):
        letter = next(c for c in term if term.count(c) > 1)
        first, second = term.index(letter), term.index(letter, term.index(letter) + 1)
        size = x.shape[first]
        rest = [a for a in range(x.ndim) if a not in (first, second)]
        moved = F.transpose(x, (first, second, *rest))
        flat = F.reshape(moved, (size * size, *moved.shape[2:]))
        index = Tensor(np.arange(size, dtype=np.int32) * (size + 1))
        x = flat[index]  # [size, rest...]
        term = letter + "".join(term[a] for a in rest)
    return x, term


def _layout(x: Tensor, term: str, order: str) -> Tensor:
    """``x`` (letters ``term``, distinct) transposed to ``order`` with size-1 axes for the
    letters it lacks."""
    own = [c for c in order if c in term]
    x = F.transpose(x, tuple(term.index(c) for c in own)) if own != list(term) else x
    shape = [x.shape[own.index(c)] if c in own else 1 for c in order]
    return F.reshape(x, tuple(shape))


@dataclasses.dataclass(frozen=True)
class Einsum(OnnxOp):
    """``numpy.einsum`` semantics for the equation ``terms -> output``."""

    terms: tuple[str, ...]
    output: str | None
    equation: str = ""

    def __call__(self, mod: Any, *xs: Tensor) -> Tensor:
        terms, output = self.terms, self.output
        if self.equation:
            terms, output = parse(self.equation, [x.ndim for x in xs])
        order = "".join(dict.fromkeys("".join(terms) + output))
        laid, kept = [], order
        for x, term in zip(xs, terms):
            if x.ndim != len(term):
                raise ValueError(f"Einsum: operand of shape {tuple(x.shape)} does not match "
                                 f"{term!r}")
            x, term = _diagonal(x, term)
            laid.append(_layout(x, term, order))
        total = None
        for k, x in enumerate(laid):
            total = x if total is None else F.mul(total, x)
            later = set(output).union(*(set(t) for t in terms[k + 1:]))
            done = tuple(a for a, c in enumerate(kept) if c not in later)
            if done:
                total = F.sum(total, axis=done, keepdims=True)
        shape = tuple(total.shape)
        sizes = {c: shape[a] for a, c in enumerate(kept)}
        squeezed = F.reshape(total, tuple(sizes[c] for c in kept if c in output))
        remaining = [c for c in kept if c in output]
        if remaining != list(output):
            squeezed = F.transpose(squeezed, tuple(remaining.index(c) for c in output))
        return squeezed


@converter("Einsum")
def _einsum(node: Node, ctx: Any) -> Converted:
    equation = str(node.attr("equation"))
    inputs = [i for i in node.inputs if i]
    ranks = [len(s) if s is not None else None
             for s in (ctx.static_shape(i) for i in inputs)]
    try:
        if all(r is not None for r in ranks):
            terms, output = parse(equation, ranks)
            op = Einsum(terms, output)
        else:
            op = Einsum((), None, equation)  # ``...`` resolved on the actual ranks
            parse(equation)
    except (ValueError, IndexError) as exc:
        raise Unsupported(f"Einsum equation {equation!r}: {exc}") from None
    return op, inputs, node.outputs[:1]


__all__: list[str] = []
