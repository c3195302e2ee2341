"""ONNX converter for ``DeformConv`` (2-d): MegEngine's ``DeformableConvForward``
(``F.nn.deformable_conv2d``).

The two agree on the operands: offsets are ``[N, offset_group * kh * kw * 2, oh, ow]``
with the ``(y, x)`` pair of each kernel tap innermost, the mask ``[N, offset_group * kh *
kw, oh, ow]`` (ones when the node has none), and a sample is bilinear over the image with
zeros outside it (ONNX's GridSample with ``align_corners=1`` and zero padding). Asymmetric
pads become an explicit zero pad first, which samples the same values.

Example:
    >>> import mge
    >>> x = mge.tensor(np.arange(9.0).reshape(1, 1, 3, 3))
    >>> w = mge.tensor(np.ones((1, 1, 1, 1)))
    >>> offset = mge.tensor(np.full((1, 2, 3, 3), 0.5))  # half a pixel down and right
    >>> DeformConv((1, 1), (0, 0, 0, 0), (1, 1), 1, 1, False, False)(None, x, w, offset
    ...     ).numpy()[0, 0, 0]
    array([2.  , 3.  , 1.75], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np  # noqa: F401  (doctest namespace)

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter, float_input


@dataclasses.dataclass(frozen=True)
class DeformConv(OnnxOp):
    """ONNX DeformConv: ``pads`` are ONNX's ``(top, left, bottom, right)``; ``has_bias``
    and ``has_mask`` say which optional operands follow ``x, w, offset``."""

    stride: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilation: tuple[int, int]
    groups: int
    offset_groups: int
    has_bias: bool
    has_mask: bool

    def __call__(self, mod: Any, x: Tensor, w: Tensor, offset: Tensor,
                 *rest: Tensor) -> Tensor:
        bias = rest[0] if self.has_bias else None
        mask = rest[-1] if self.has_mask else None
        if x.ndim != 4 or w.ndim != 4:
            raise ValueError(f"DeformConv: only 2-d inputs are supported, got X {x.shape} "
                             f"and W {w.shape}")
        out_ch, _, kh, kw = w.shape
        taps = self.offset_groups * kh * kw
        if offset.shape[1] != 2 * taps:
            raise ValueError(f"DeformConv: offset {offset.shape} must have {2 * taps} "
                             f"channels (offset_group {self.offset_groups}, kernel "
                             f"{kh}x{kw})")
        if mask is None:
            mask = F.ones_like(offset[:, :taps])  # follows the sizes in a traced graph
        if self.groups > 1:
            w = F.reshape(w, (self.groups, out_ch // self.groups, *w.shape[1:]))
        if bias is not None:
            bias = F.reshape(bias, (1, out_ch, 1, 1))
        top, left, bottom, right = self.pads
        sym = (min(top, bottom), min(left, right))
        if (top, left) != (bottom, right):
            x = F.nn.pad(x, ((0, 0), (0, 0), (top - sym[0], bottom - sym[0]),
                             (left - sym[1], right - sym[1])))
        return F.nn.deformable_conv2d(x, w, offset, mask, bias, self.stride, sym,
                                      self.dilation, self.groups)


@converter("DeformConv")
def _deform_conv(node: Node, ctx: Any) -> Converted:
    float_input(node, ctx)
    kernel = node.attr("kernel_shape")
    w_shape = ctx.shapes.get(node.input(1))
    nd = len(kernel) if kernel is not None else (len(w_shape) - 2 if w_shape else 2)
    if nd != 2:
        raise Unsupported(f"only 2-d DeformConv is supported (a {nd}-d kernel)")
    if kernel is not None and w_shape is not None and None not in w_shape[2:] and \
            list(kernel) != list(w_shape[2:]):
        raise Unsupported(f"kernel_shape {list(kernel)} differs from the weight's "
                          f"{list(w_shape[2:])}")
    op = DeformConv(
        tuple(int(v) for v in node.attr("strides", [1, 1])),  # type: ignore[arg-type]
        tuple(int(v) for v in node.attr("pads", [0, 0, 0, 0])),  # type: ignore[arg-type]
        tuple(int(v) for v in node.attr("dilations", [1, 1])),  # type: ignore[arg-type]
        int(node.attr("group", 1)), int(node.attr("offset_group", 1)),
        bool(node.input(3)), bool(node.input(4)))
    return op, [i for i in node.inputs if i], node.outputs[:1]


__all__: list[str] = []
