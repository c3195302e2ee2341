"""ONNX export rules of the detection, remap and colour ops (``NMSKeep``,
``ROIAlignForward``, ``ROIPoolingForward``, ``DeformablePSROIPoolingForward``,
``CorrelationForward``, ``WarpAffineForward``, ``RemapForward``, ``CvtColorForward``,
``Resize3DForward``) and the dynamic-batch rule of ``Resize3DForward``.

As for the warp and resize ops (:mod:`.onnx_export`), the numpy kernels themselves are
written out through :class:`~mge.ops.vision.onnx_export.OnnxOps`, so the exported graphs
compute MegEngine's numerics operation by operation. ONNX's own ``RoiAlign``,
``MaxRoiPool`` and ``NonMaxSuppression`` are not used: they differ from MegEngine
(``RoiAlign`` has no ``offset`` other than 0 or 0.5, rounds its sample grid differently
and has no argmax output; ``MaxRoiPool`` has no average mode or argmax;
``NonMaxSuppression`` normalizes box corners, skips empty boxes and compares
``inter / union`` instead of ``inter > union * thresh``).

``NMSKeep``'s overlap matrix is the kernel's; its greedy pass, sequential by nature,
is an ONNX ``Loop`` over the boxes carrying the kept mask and count per batch item.

Example:
    >>> from mge.ops.vision.detection import NMSKeep
    >>> NMSKeep.onnx_rule                                        # doctest: +SKIP
    <function _nms ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..batching import data_inputs
from ..registry import Unsupported, batch_rule, onnx_rule
from .color import CvtColorForward
from .detection import (
    CorrelationForward,
    CountPrefix,
    DeformablePSROIPoolingForward,
    NMSKeep,
    ROIAlignForward,
    ROIPoolingForward,
)
from .numpy_color import cvt_color
from .numpy_detection import (
    correlation,
    deformable_psroi_pooling,
    roi_align,
    roi_pooling,
    suppression,
)
from .numpy_remap import remap, warp_affine
from .numpy_resize3d import resize3d
from .onnx_export import OnnxOps
from .remap import RemapForward, WarpAffineForward
from .resize3d import Resize3DForward

if TYPE_CHECKING:
    from ...convert.onnx.exporter.graph import ExportContext
    from ...convert.onnx.exporter.sym import Sym
    from ...graph.ir import OpNode

I64 = np.dtype("int64")
I32 = np.dtype("int32")
BOOL = np.dtype("bool")


def _kernel_rule(kernel: Any) -> Any:
    """An export rule running ``kernel(ops, op, *inputs)`` on ONNX values."""

    def rule(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
        out = kernel(OnnxOps(ctx), node.op, *xs)
        return list(out) if isinstance(out, tuple) else [out]

    rule.__name__ = f"_{kernel.__name__}"
    return rule


for _cls, _kernel in ((ROIAlignForward, roi_align), (ROIPoolingForward, roi_pooling),
                      (DeformablePSROIPoolingForward, deformable_psroi_pooling),
                      (CorrelationForward, correlation), (WarpAffineForward, warp_affine),
                      (RemapForward, remap), (CvtColorForward, cvt_color),
                      (Resize3DForward, resize3d)):
    onnx_rule(_cls)(_kernel_rule(_kernel))
batch_rule(Resize3DForward)(data_inputs(0))


# ------------------------------------------------------------------------- NMSKeep
@onnx_rule(CountPrefix)
def _count_prefix(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    """``Slice`` with its end from the count (the declared shape: the traced count's)."""
    x, count = xs
    return [x.op("Slice", ctx.ints([0]), count.cast(I64), ctx.ints([0]),
                 shape=node.outputs[0].shape)]


def _greedy_body(ctx: ExportContext, shape: tuple[int, int, int], max_output: int) -> Any:
    """The ``Loop`` body of the greedy pass: step ``i`` keeps box ``i`` of each batch item
    unless a kept box suppresses it or ``max_output`` boxes are kept already."""
    from onnx import TensorProto, helper, numpy_helper

    batch, n, _ = shape
    names = {k: ctx.unique(f"nms_{k}") for k in (
        "i", "cond", "kept", "count", "sup", "row", "both", "hits_i", "hits", "zero",
        "free", "limit", "room", "keep", "range", "onehot", "axis1", "keep_col", "add",
        "kept_out", "keep_i", "count_out", "cond_out", "sup_out")}

    def const(name: str, value: np.ndarray) -> Any:
        return helper.make_node("Constant", [], [names[name]],
                                value=numpy_helper.from_array(value, names[name]))

    def node(op: str, ins: list[str], out: str, **attrs: Any) -> Any:
        return helper.make_node(op, [names[k] for k in ins], [names[out]], **attrs)

    nodes = [
        node("Gather", ["sup", "i"], "row", axis=1),  # (batch, n): does box i overlap j
        node("And", ["row", "kept"], "both"),
        node("Cast", ["both"], "hits_i", to=TensorProto.INT64),
        const("axis1", np.array([1], np.int64)),
        node("ReduceSum", ["hits_i", "axis1"], "hits", keepdims=0),
        const("zero", np.array(0, np.int64)),
        node("Equal", ["hits", "zero"], "free"),
        const("limit", np.array(max_output, np.int64)),
        node("Less", ["count", "limit"], "room"),
        node("And", ["free", "room"], "keep"),
        const("range", np.arange(n, dtype=np.int64)),
        node("Equal", ["range", "i"], "onehot"),
        node("Unsqueeze", ["keep", "axis1"], "keep_col"),
        node("And", ["keep_col", "onehot"], "add"),
        node("Or", ["kept", "add"], "kept_out"),
        node("Cast", ["keep"], "keep_i", to=TensorProto.INT64),
        node("Add", ["count", "keep_i"], "count_out"),
        node("Identity", ["cond"], "cond_out"),
        node("Identity", ["sup"], "sup_out"),
    ]
    info = helper.make_tensor_value_info
    return helper.make_graph(
        nodes, ctx.unique("nms_greedy"),
        [info(names["i"], TensorProto.INT64, []), info(names["cond"], TensorProto.BOOL, []),
         info(names["kept"], TensorProto.BOOL, [batch, n]),
         info(names["count"], TensorProto.INT64, [batch]),
         info(names["sup"], TensorProto.BOOL, [batch, n, n])],
        [info(names["cond_out"], TensorProto.BOOL, []),
         info(names["kept_out"], TensorProto.BOOL, [batch, n]),
         info(names["count_out"], TensorProto.INT64, [batch]),
         info(names["sup_out"], TensorProto.BOOL, [batch, n, n])])


@onnx_rule(NMSKeep)
def _nms(ctx: ExportContext, node: OpNode, xs: list[Sym]) -> list[Sym]:
    (boxes,) = xs
    op: NMSKeep = node.op
    batch, n, _ = boxes.shape
    m = int(op.max_output)
    if m == 0:
        raise Unsupported("NMSKeep with max_output=0 keeps no index")
    if n == 0:
        return [ctx.filled((batch, m), 0, I32), ctx.filled((batch,), 0, I32)]
    sup = suppression(OnnxOps(ctx), boxes, op.iou_thresh)
    kept, count, _ = ctx.emit(
        "Loop", [ctx.const(np.array(n, np.int64)), ctx.const(np.array(True)),
                 ctx.filled((batch, n), False, BOOL), ctx.filled((batch,), 0, I64), sup],
        (), None, outputs=3, shapes=[(batch, n), (batch,), (batch, n, n)],
        dtypes=[BOOL, I64, BOOL], body=_greedy_body(ctx, (batch, n, n), m))
    # slot s holds the kept box of rank min(s, count - 1) (the last one repeated), or 0
    rank = kept.cast(I64).op("CumSum", ctx.const(np.array(1, np.int64))) - 1
    target = (count[:, None] - 1).minimum(ctx.const(np.arange(m, dtype=np.int64)[None]))
    match = kept[:, None, :] & (rank[:, None, :] == target[:, :, None])  # (batch, m, n)
    first = match.cast(np.float32).op("ArgMax", shape=(batch, m), dtype=I64, axis=2,
                                      keepdims=0)
    return [first.cast(I32), count.cast(I32)]
