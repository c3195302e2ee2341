"""Quantized average pooling in the int8 ONNX lowerings (:mod:`.int8_onnx`,
:mod:`.int8_qdq`): the average of the codes, rounded as MegEngine rounds it.

Example:
    >>> rounded = code_average(low, node, codes)                # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ..dtype import code_zero_point, get_scale
from ..graph.ir import OpNode, VarNode
from .int8_round import rounded


def pool_attrs(op: Any) -> dict[str, Any]:
    """ONNX ``kernel_shape``, ``pads`` and ``strides`` of a ``PoolingForward``."""
    return {"kernel_shape": [op.window_h, op.window_w], "pads": [op.pad_h, op.pad_w] * 2,
            "strides": [op.stride_h, op.stride_w]}


def code_average_fits(x: VarNode, y: VarNode) -> bool:
    """Whether average pooling from ``x`` to ``y`` is an average of codes (one scale, zero
    point 0: MegEngine's quantized average pooling keeps its input's dtype)."""
    return not code_zero_point(x.dtype) and \
        get_scale(x.dtype) == get_scale(y.dtype)


def code_average(low: Any, node: OpNode, codes: str) -> str:
    """The average of the float ``codes`` (less their zero point) over ``node``'s pooling
    windows, rounded half away from zero as MegEngine rounds (:func:`.int8_round.rounded`;
    a float average then ``QuantizeLinear`` would round ties to even: one step off at
    half of the ties of a 4x4 window): float codes."""
    op = node.op
    if op.covers_input(node.inputs[0].shape):
        mean = low.node("GlobalAveragePool", [codes])
    else:
        mean = low.node("AveragePool", [codes], count_include_pad=int(op.mode == "AVERAGE"),
                        **pool_attrs(op))
    return rounded(low, mean)


__all__ = ["code_average", "code_average_fits", "pool_attrs"]
