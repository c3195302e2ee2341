"""Detection ops: ``NMSKeep``, ``CountPrefix``, ``ROIAlignForward``, ``ROIPoolingForward``,
``DeformablePSROIPoolingForward``, ``CorrelationForward``.

MegEngine 1.13's graph operators with their param fields, defaults and outputs:

- ``NMSKeep`` (``iou_thresh``, ``max_output``): ``boxes`` ``(batch, n, 4)`` float32 in
  ``(x0, y0, x1, y1)``, already sorted by score, to ``indices`` ``(batch, max_output)``
  int32 (the kept boxes, then the last kept one repeated) and ``sizes`` ``(batch,)``
  int32 (MegEngine's third output, a workspace, is not stored in files).
- ``CountPrefix``: ``x[:count]`` with ``count`` a var, NMSKeep's kept count (``F.vision.nms``
  slices its indices so). mge's graphs have static shapes: ``size`` is the count of the
  traced call and the kernels refuse another; ``.mge`` files hold MegEngine's
  ``Subtensor`` with its end from the count var, read back in stages
  (:mod:`mge.serialization.mge_staged`).
- ``ROIAlignForward``: ``src`` NCHW float32 and ``rois`` ``(k, 5)`` rows
  ``(batch_index, x0, y0, x1, y1)`` to ``(k, c, pooled_height, pooled_width)`` and the
  int32 argmax of each (the sample index, MAX mode).
- ``ROIPoolingForward``: the same inputs to ``(k, c, *dsize)``; MegEngine passes the
  output size as a third input var, here the param ``dsize``.
- ``DeformablePSROIPoolingForward``: ``src``, ``rois`` and ``trans`` (per roi, x and y
  offsets of each part) to the pooled values and the number of samples of each bin.
- ``CorrelationForward``: FlowNet's correlation of two NCHW float32 maps.

Example:
    >>> op = ROIAlignForward(pooled_height=7, pooled_width=7)
    >>> op.infer([TensorInfo((1, 256, 50, 50), F32), TensorInfo((10, 5), F32)])[0].shape
    (10, 256, 7, 7)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import ClassVar, NamedTuple

import numpy as np

from ...core.opdef import Memory, MgeForm, OpDef, TensorInfo, check_enum, register_op

F32 = np.dtype("float32")
I32 = np.dtype("int32")
POOL_MODES = ("MAX", "AVERAGE")


@register_op
class CountPrefix(OpDef):
    """The first ``count`` rows of ``x`` (``x[:count]``), ``count`` a ``(1,)`` integer var
    known only while running; ``size``: the count mge's static shapes assume (not compared
    when a traced call is checked against its recording: it is data)."""

    type_name = "CountPrefix"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("Subtensor", ("IndexDescMaskDump",), reads=False)
    nr_inputs = (2,)
    nr_data_inputs: ClassVar[int] = 1
    #: MegEngine's Subtensor item: axis 0, its end from the second input
    items: ClassVar[tuple] = ((0, None, True, None, None),)
    size: int = dataclasses.field(default=0, compare=False)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        x, count = inputs
        if x.ndim < 1:
            self.fail("x must have at least one dim", inputs)
        if count.shape != (1,) or count.dtype.kind not in "iu":
            self.fail(f"count must be one integer of shape (1,), got {count.dtype}"
                      f"{list(count.shape)}", inputs)
        if not isinstance(self.size, (int, np.integer)) or not 0 <= self.size <= x.shape[0]:
            self.fail(f"size {self.size!r} is not a count of the {x.shape[0]} rows", inputs)
        if count.value is not None and int(np.asarray(count.value).reshape(-1)[0]) != self.size:
            self.fail(f"count {np.asarray(count.value).reshape(-1)[0]} differs from size "
                      f"{self.size}", inputs)
        return [TensorInfo((int(self.size), *x.shape[1:]), x.dtype)]

    def checked_count(self, count: int) -> int:
        """``count`` when it is the op's ``size``; ``ValueError`` naming both otherwise (a
        graph traced with another kept count, run on new values)."""
        if count != self.size:
            raise ValueError(f"CountPrefix: the count is {count} but the graph was built for "
                             f"{self.size} (the traced call's; the count depends on input "
                             "values: run the function eagerly or read its dump in stages)")
        return count


@register_op
class NMSKeep(OpDef):
    """Greedy non-maximum suppression of score-sorted boxes (MegEngine ``NMSKeep``)."""

    type_name = "NMSKeep"
    memory = Memory.FRESH
    mge_form = MgeForm("NMSKeepMGB", ("NMSKeep",))
    nr_inputs = (1,)
    iou_thresh: float = 0.0
    max_output: int = 0

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        (boxes,) = inputs
        if boxes.ndim != 3 or boxes.shape[2] != 4:
            self.fail(f"boxes must be (batch, n, 4), got {boxes.shape}", inputs)
        if boxes.dtype != F32:
            self.fail(f"boxes must be float32, got {boxes.dtype}", inputs)
        if not isinstance(self.max_output, (int, np.integer)) or self.max_output < 0:
            self.fail(f"max_output must be a non-negative int, got {self.max_output!r}", inputs)
        batch = boxes.shape[0]
        return [TensorInfo((batch, int(self.max_output)), I32), TensorInfo((batch,), I32)]


def _check_rois(op: OpDef, inputs: Sequence[TensorInfo]) -> None:
    src, rois = inputs[0], inputs[1]
    if src.ndim != 4:
        op.fail(f"src must be 4-d NCHW, got {src.ndim}-d", inputs)
    if rois.ndim != 2 or rois.shape[1] != 5:
        op.fail(f"rois must be (k, 5) rows (batch_index, x0, y0, x1, y1), got {rois.shape}",
                inputs)
    if src.dtype != F32 or rois.dtype != F32:
        op.fail(f"src and rois must be float32, got {src.dtype} and {rois.dtype}", inputs)


@register_op
class ROIAlignForward(OpDef):
    """RoI Align of Mask R-CNN (MegEngine ``ROIAlign`` param; outputs values and argmax)."""

    type_name = "ROIAlignForward"
    memory = Memory.FRESH
    mge_form = MgeForm("ROIAlignV1", ("ROIAlign",))
    nr_inputs = (2,)
    mode: str = "MAX"
    format: str = "NCHW"
    spatial_scale: float = 1.0
    offset: float = 0.0
    pooled_height: int = 1
    pooled_width: int = 1
    sample_height: int = 2
    sample_width: int = 2

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "mode", POOL_MODES)
        check_enum(self, "format", ("NCHW",))
        _check_rois(self, inputs)
        sizes = (self.pooled_height, self.pooled_width, self.sample_height, self.sample_width)
        if not all(isinstance(s, (int, np.integer)) and s >= 0 for s in sizes) or 0 in sizes[:2]:
            self.fail("pooled sizes must be positive and sample sizes non-negative ints", inputs)
        shape = (inputs[1].shape[0], inputs[0].shape[1], self.pooled_height, self.pooled_width)
        return [TensorInfo(shape, F32), TensorInfo(shape, I32)]


@register_op
class ROIPoolingForward(OpDef):
    """RoI max/average pooling of Fast R-CNN (MegEngine ``ROIPooling``; outputs values and
    argmax). ``dsize`` is the output ``(height, width)``, an input var in MegEngine."""

    type_name = "ROIPoolingForward"
    memory = Memory.FRESH
    mge_form = MgeForm("ROIPooling", ("ROIPooling",), static=(("dsize", "pair"),))
    nr_inputs = (2,)
    mode: str = "MAX"
    scale: float = 1.0
    dsize: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dsize", tuple(self.dsize))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "mode", POOL_MODES)
        _check_rois(self, inputs)
        if len(self.dsize) != 2 or not all(isinstance(d, (int, np.integer)) and d > 0
                                           for d in self.dsize):
            self.fail(f"dsize must be (height, width) with positive ints, got {self.dsize!r}",
                      inputs)
        shape = (inputs[1].shape[0], inputs[0].shape[1], *self.dsize)
        return [TensorInfo(shape, F32), TensorInfo(shape, I32)]


@register_op
class DeformablePSROIPoolingForward(OpDef):
    """Deformable RoI pooling (MegEngine ``DeformablePSROIPooling`` param): each bin
    averages ``sample_per_part ** 2`` bilinear samples, shifted by ``trans`` (scaled by
    ``trans_std`` and the roi size) unless ``no_trans``; outputs values and counts."""

    type_name = "DeformablePSROIPoolingForward"
    memory = Memory.FRESH
    mge_form = MgeForm("DeformablePSROIPoolingForward", ("DeformablePSROIPooling",))
    nr_inputs = (3,)
    no_trans: bool = True
    spatial_scale: float = 1.0
    trans_std: float = 1.0
    pooled_h: int = 1
    pooled_w: int = 1
    part_size: int = 1
    sample_per_part: int = 1

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        _check_rois(self, inputs)
        src, rois, trans = inputs
        sizes = (self.pooled_h, self.pooled_w, self.part_size, self.sample_per_part)
        if not all(isinstance(v, (int, np.integer)) and v > 0 for v in sizes):
            self.fail("pooled sizes, part_size and sample_per_part must be positive ints",
                      inputs)
        if 0 in src.shape or 0 in rois.shape or 0 in trans.shape:
            self.fail("inputs must not be empty (as in MegEngine)", inputs)
        if trans.ndim != 4 or trans.dtype != F32:
            self.fail(f"trans must be 4-d float32, got {trans}", inputs)
        if not self.no_trans:
            if trans.shape[1:] != (2, self.pooled_h, self.pooled_w):
                self.fail(f"trans must be (n, 2, {self.pooled_h}, {self.pooled_w}), got "
                          f"{trans.shape}", inputs)
            need = 2 * rois.shape[0] * self.part_size ** 2
            size = int(np.prod(trans.shape))
            if size < need:
                self.fail(f"trans holds {size} values; {rois.shape[0]} rois with "
                          f"part_size {self.part_size} read {need}", inputs)
        shape = (rois.shape[0], src.shape[1], self.pooled_h, self.pooled_w)
        return [TensorInfo(shape, F32), TensorInfo(shape, F32)]


class CorrelationGeometry(NamedTuple):
    """Derived sizes of a correlation: kernel radius, displacement grid, output size."""

    kernel_radius: int
    grid_radius: int
    grid_width: int
    out_h: int
    out_w: int


def correlation_geometry(op: CorrelationForward, shape: tuple[int, ...]) -> CorrelationGeometry:
    """MegEngine's ``Correlation::deduce_layout_fwd`` arithmetic for an NCHW ``shape``."""
    radius = (op.kernel_size - 1) // 2
    border = op.max_displacement + radius
    grid_r = op.max_displacement // op.stride2
    out_h, out_w = (math.ceil((shape[k] + 2 * op.pad_size - 2 * border) / op.stride1)
                    for k in (2, 3))
    return CorrelationGeometry(radius, grid_r, 2 * grid_r + 1, out_h, out_w)


@register_op
class CorrelationForward(OpDef):
    """FlowNet correlation (MegEngine ``Correlation`` param): output channel ``c`` is the
    mean over a ``kernel_size`` window and all channels of ``data1 * data2`` (or
    ``|data1 - data2|``) with ``data2`` displaced by grid cell ``c`` times ``stride2``."""

    type_name = "CorrelationForward"
    memory = Memory.FRESH
    mge_form = MgeForm("CorrelationForward", ("Correlation",))
    nr_inputs = (2,)
    format: str = "NCHW"
    kernel_size: int = 1
    max_displacement: int = 1
    stride1: int = 1
    stride2: int = 1
    pad_size: int = 0
    is_multiply: bool = True

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "format", ("NCHW",))
        a, b = inputs
        if a.ndim != 4 or a.shape != b.shape or a.dtype != b.dtype or a.dtype != F32:
            self.fail("data1 and data2 must be float32 NCHW tensors of one shape", inputs)
        if 0 in a.shape:
            self.fail("inputs must not be empty", inputs)
        ints = (self.kernel_size, self.max_displacement, self.stride1, self.stride2,
                self.pad_size)
        if not all(isinstance(v, (int, np.integer)) and v >= 0 for v in ints):
            self.fail("sizes must be non-negative ints", inputs)
        if self.kernel_size % 2 == 0 or self.stride1 == 0 or self.stride2 == 0:
            self.fail("kernel_size must be odd and the strides positive", inputs)
        geo = correlation_geometry(self, a.shape)
        if geo.out_h < 1 or geo.out_w < 1:
            self.fail(f"the output would be empty ({geo.out_h}x{geo.out_w}): the input must "
                      "exceed 2 * (max_displacement + kernel_size // 2) - 2 * pad_size", inputs)
        return [TensorInfo((a.shape[0], geo.grid_width ** 2, geo.out_h, geo.out_w), F32)]
