"""ONNX export rules of ``FakeQuant``, ``TQT`` and ``LSQ`` (:mod:`.fake_quant`): their
arithmetic in float32 ONNX ops, ``round`` exact and half away from zero.

``QuantizeLinear`` + ``DequantizeLinear`` would be one pair per ``FakeQuant``, but it
rounds ties to even (``x / s = 2.5`` gives 2 where MegEngine gives 3), and real
activations hit ties (a pixel of 0.5 at scale 1/255...): so every op is written with
its elementwise steps. Under ``dynamic_batch`` export the batch flows through the data
input only (and through ``ElemwiseMultiType`` as through any elementwise op).

Example:
    >>> FakeQuant.onnx_rule is export_fake_quant
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..batching import aligned, data_inputs
from ..elemwise.onnx_export import round_half_away
from ..registry import batch_rule, onnx_rule
from . import ElemwiseMultiType
from .fake_quant import LSQ, TQT, FakeQuant

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode


def _clip(x: Sym, qmin: int, qmax: int) -> Sym:
    return x.clip(float(qmin), float(qmax))


@onnx_rule(FakeQuant)
def export_fake_quant(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op: FakeQuant = node.op
    x, scale, zero_point = xs
    q = _clip(round_half_away(x / scale) + zero_point, op.qmin, op.qmax)
    return [(q - zero_point) * scale]


@onnx_rule(TQT)
def export_tqt(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op: TQT = node.op
    x, scale = xs
    t = scale.cast(np.float64).binary("Pow", 2.0, reflected=True).cast(np.float32)
    return [_clip(round_half_away(x / t), op.qmin, op.qmax) * t]


@onnx_rule(LSQ)
def export_lsq(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    op: LSQ = node.op
    x, scale, zero_point, _grad_scale = xs
    q = round_half_away(_clip(x / scale + zero_point, op.qmin, op.qmax))
    return [(q - zero_point) * scale]


#: the batch flows through the data input; the quantization parameters carry none
batch_rule(FakeQuant, TQT, LSQ)(data_inputs(0))
#: elementwise (its ONNX form is the QDQ lowering's, :mod:`mge.runtime.int8_qdq`)
batch_rule(ElemwiseMultiType)(aligned)
