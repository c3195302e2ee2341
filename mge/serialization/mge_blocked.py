"""Reading MegEngine's blocked-layout operators (NCHW44, NCHW44_DOT, NCHW88) into NCHW ops.

``enable_nchw44`` / ``enable_nchw88`` dumps store tensors as ``(N, C/p, H, W, p)`` and
convolution filters in packed layouts. mge's ops compute in NCHW, so each blocked
operator is loaded as: its data inputs unpacked to NCHW (``Dimshuffle`` + ``Reshape``),
its filter and bias constants repacked to NCHW, the NCHW op, and its output packed
back to ``(N, C/p, H, W, p)`` so that the rest of the file (elementwise ops on packed
tensors, MegEngine's own final unpacking) reads it unchanged.

Filter layouts (MegEngine dnn ``make_canonized_filter_meta_nchwxx``):

* dense ``(OC/p, IC/p, FH, FW, p_ic, p_oc)`` (NCHW44_DOT: ``p_oc, p_ic``);
* hybrid, NCHW src: ``(OC/p, FH, FW, IC, p_oc)``;
* channel-wise: ``(G/p, 1, 1, FH, FW, p)``; group: ``(G, OCg/p, ICg/p, FH, FW, p_ic, p_oc)``.

Example:
    >>> BLOCKED["NCHW88"]
    8
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ..graph.ir import Graph, VarNode
from ..ops.conv import ConvBiasForward, ConvolutionForward
from ..ops.pooling import AdaptivePoolingForward, PoolingForward
from ..ops.shape import Dimshuffle, Reshape
from .fbs import Operator, Param

BLOCKED = {"NCHW44": 4, "NCHW44_DOT": 4, "NCHW88": 8}
_CONVS = tuple(name for cls in (ConvolutionForward, ConvBiasForward)
               for name in (cls.mge_form.file, *cls.mge_form.legacy))
_POOLS = (PoolingForward.mge_form.file, AdaptivePoolingForward.mge_form.file)


class BlockedError(ValueError):
    """A blocked-layout operator mge cannot unpack."""


def blocked_format(fop: Operator) -> str | None:
    """The operator's blocked format name, or None."""
    for p in fop.params:
        fmt = p.fields.get("format")
        if fmt in BLOCKED:
            return fmt
    return None


def unpack_filter(w: np.ndarray, fmt: str, sparse: str, pack: int) -> np.ndarray:
    """A packed filter in NCHW (``(OC, IC, FH, FW)`` or ``(G, OCg, ICg, FH, FW)``)."""
    if sparse == "DENSE" and w.ndim == 6:
        axes = (0, 4, 1, 5, 2, 3) if fmt == "NCHW44_DOT" else (0, 5, 1, 4, 2, 3)
        o1, i1, fh, fw = w.shape[0], w.shape[1], w.shape[2], w.shape[3]
        return w.transpose(axes).reshape(o1 * pack, i1 * pack, fh, fw)
    if sparse == "DENSE" and w.ndim == 5:
        o1, fh, fw, ic = w.shape[:4]
        return w.transpose(0, 4, 3, 1, 2).reshape(o1 * pack, ic, fh, fw)
    if sparse == "GROUP" and w.ndim == 6 and w.shape[1:3] == (1, 1):
        g1, _, _, fh, fw = w.shape[:5]
        return w.transpose(0, 5, 1, 2, 3, 4).reshape(g1 * pack, 1, 1, fh, fw)
    if sparse == "GROUP" and w.ndim == 7:
        axes = (0, 1, 5, 2, 6, 3, 4) if fmt == "NCHW44_DOT" else (0, 1, 6, 2, 5, 3, 4)
        g, o1, i1, fh, fw = w.shape[:5]
        return w.transpose(axes).reshape(g, o1 * pack, i1 * pack, fh, fw)
    raise BlockedError(f"{fmt} {sparse} filter of shape {w.shape} is not supported")


class Unpacker:
    """Builds the NCHW form of blocked operators in ``graph``."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def to_nchw(self, var: VarNode) -> VarNode:
        """``(N, C/p, H, W, p)`` -> ``(N, C, H, W)`` (constants are repacked directly)."""
        if var.ndim != 5:
            raise BlockedError(f"expected a packed 5-d tensor, got shape {var.shape}")
        n, c1, h, w, p = var.shape
        if var.is_const:
            value = var.value.transpose(0, 1, 4, 2, 3).reshape(n, c1 * p, h, w)
            return self.graph.add_const(value, name=var.name)
        (shuffled,) = self.graph.add_op(Dimshuffle(pattern=(0, 1, 4, 2, 3), ndim=5), [var])
        return self.graph.add_op(Reshape(shape=(n, c1 * p, h, w)), [shuffled])[0]

    def to_blocked(self, var: VarNode, pack: int) -> VarNode:
        """``(N, C, H, W)`` -> ``(N, C/p, H, W, p)``."""
        n, c, h, w = var.shape
        if c % pack:
            raise BlockedError(f"{c} channels do not pack by {pack}")
        (split,) = self.graph.add_op(Reshape(shape=(n, c // pack, pack, h, w)), [var])
        return self.graph.add_op(Dimshuffle(pattern=(0, 1, 3, 4, 2), ndim=5), [split])[0]

    def convert(self, fop: Operator, inputs: list[VarNode],
                make: Callable[[Operator, list[VarNode]], list[VarNode]]) -> list[VarNode]:
        """Load blocked ``fop`` on ``inputs``; ``make(fop, inputs)`` builds the NCHW op."""
        fmt = blocked_format(fop)
        assert fmt is not None
        pack = BLOCKED[fmt]
        params = [Param(p.type, {**p.fields, "format": "NCHW"}) if "format" in p.fields else p
                  for p in fop.params]
        nchw = dataclasses.replace(fop, params=params)
        if fop.type in _POOLS:
            new_inputs = [self.to_nchw(inputs[0]), *inputs[1:]]
        elif fop.type in _CONVS:
            new_inputs = self.conv_inputs(fop, inputs, fmt, pack)
        else:
            raise BlockedError(f"{fop.type} in format {fmt} is not supported")
        outs = make(nchw, new_inputs)
        return [self.to_blocked(v, pack) for v in outs]

    def conv_inputs(self, fop: Operator, inputs: list[VarNode], fmt: str, pack: int
                    ) -> list[VarNode]:
        if len(inputs) < 2 or not inputs[1].is_const:
            raise BlockedError("the filter of a blocked convolution must be a constant")
        sparse = next(p.fields["sparse"] for p in fop.params if "sparse" in p.fields)
        src = inputs[0] if inputs[0].ndim == 4 else self.to_nchw(inputs[0])
        weight = unpack_filter(inputs[1].value, fmt, sparse, pack)
        rest = [self.to_nchw(v) for v in inputs[2:]]
        return [src, self.graph.add_const(weight, name=inputs[1].name), *rest]


__all__ = ["BLOCKED", "BlockedError", "Unpacker", "blocked_format", "unpack_filter"]
