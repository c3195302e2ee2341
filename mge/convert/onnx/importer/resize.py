"""ONNX converters for ``Resize`` and ``Upsample`` (see :mod:`.node`).

Where MegEngine's own resampling computes what ONNX asks (bilinear/bicubic with
half-pixel or corner-aligned coordinates, nearest with floor rounding, whole output sizes
on ``[N, C, H, W]``) the node becomes ``F.vision.interpolate`` (MegEngine's
``ResizeForward``). Every other combination (scales that give a fractional size, ``axes``,
``keep_aspect_ratio_policy``, cubic ``A``/``exclude_outside``, antialiasing, the other
coordinate transformations and nearest roundings, ``tf_crop_and_resize``) is resampled as
ONNX's reference does it: separably, one axis at a time, with the interpolation weights of
that axis as an ``[out, in]`` matrix (a ``matmul``) or, for nearest, the picked indices (a
vector indexing); :mod:`.resample` builds both from the input shape.

Example:
    >>> import mge
    >>> op = Resample("nearest", (1,), None, (2.0,), "asymmetric", "floor")
    >>> op(None, mge.tensor([[1.0, 2.0]])).shape  # axis 1 of [1, 2] resized by 2
    (1, 4)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .... import functional as F
from ....tensor import Tensor
from .node import Converted, Node, OnnxOp, Unsupported, converter, normalize_axis
from .resample import axis_weights, output_sizes


@dataclasses.dataclass(frozen=True)
class Resize(OnnxOp):
    """``F.vision.interpolate`` to ``sizes`` or ``floor(in * scales)`` on the last two axes.

    MegEngine resamples with ratio ``out / in``; ONNX uses the given scale. The two agree
    only when ``in * scale`` is whole (``exact``), which is checked on the actual input.
    ``pytorch_half_pixel`` is ``half_pixel`` except that an output axis of length 1
    samples input position 0: that axis is cut to its first element before resampling.
    """

    mode: str
    align_corners: bool | None
    sizes: tuple[int, int] | None
    scales: tuple[float, float] | None
    integer_upscale: bool
    length_one_at_start: bool = False

    def out_size(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """The output height and width for an input of ``shape``; ``ValueError`` where
        MegEngine's resampling would differ from ONNX's."""
        if self.sizes is not None:
            out = self.sizes
        else:
            out = tuple(int(math.floor(n * s)) for n, s in zip(shape[2:], self.scales))
            if not all(math.isclose(o, n * s, rel_tol=1e-5)
                       for o, n, s in zip(out, shape[2:], self.scales)):
                raise ValueError(
                    f"Resize: scales {self.scales} on input {tuple(shape)} give a "
                    f"fractional size; MegEngine resamples by out/in, so they differ"
                )
        if self.integer_upscale and any(o % n for o, n in zip(out, shape[2:])):
            raise ValueError(
                f"Resize: nearest with half-pixel coordinates is imported only for "
                f"integer upscaling, got {tuple(shape[2:])} -> {out}"
            )
        return out

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        out = self.out_size(tuple(x.shape))
        if self.length_one_at_start:
            if out[0] == 1:
                x = x[:, :, :1]
            if out[1] == 1:
                x = x[:, :, :, :1]
        return F.vision.interpolate(x, out, mode=self.mode, align_corners=self.align_corners)


def _resize_mode(node: Node, ctx: Any) -> tuple[str, bool | None, bool]:
    """``(mode, align_corners, integer_upscale_only)`` for ``F.vision.interpolate``."""
    mode = node.attr("mode", "nearest")
    coords = node.attr("coordinate_transformation_mode",
                       "asymmetric" if ctx.opset < 11 else "half_pixel")
    half_pixel = coords in ("half_pixel", "pytorch_half_pixel")
    if mode == "linear" and (half_pixel or coords == "align_corners"):
        return "bilinear", coords == "align_corners", False
    if mode == "cubic" and half_pixel and node.attr("cubic_coeff_a", -0.75) == -0.75 \
            and not node.attr("exclude_outside", 0):
        return "bicubic", None, False
    if mode == "nearest":
        rounding = node.attr("nearest_mode", "round_prefer_floor")
        if coords == "asymmetric" and (ctx.opset < 11 or rounding == "floor"):
            return "nearest", None, False
        if half_pixel and rounding == "round_prefer_floor":
            return "nearest", None, True
    raise Unsupported(
        f"mode={mode!r} with coordinate_transformation_mode={coords!r} is not supported"
    )


def _megengine_resize(node: Node, ctx: Any) -> Converted:
    """The node as MegEngine's ``ResizeForward``; ``Unsupported`` where that differs."""
    node.reject_attrs(antialias=0, keep_aspect_ratio_policy="stretch")
    if node.attr("axes") is not None:
        raise Unsupported("the axes attribute is not supported")
    mode, align_corners, integer_upscale = _resize_mode(node, ctx)
    scales_at, sizes_at = (1, None) if ctx.opset < 11 else (2, 3)
    sizes = scales = None
    if sizes_at is not None and node.input(sizes_at):
        sizes = [int(v) for v in ctx.const(node.input(sizes_at), "Resize sizes")]
        lead = sizes[:2]
        shape = ctx.static_shape(node.input(0))
        if shape is None or lead != list(shape[:2]):
            raise Unsupported("Resize sizes must keep N and C (static input shape needed)")
    else:
        scales = [float(v) for v in ctx.const(node.input(scales_at), "Resize scales")]
        lead = scales[:2]
        if lead != [1.0, 1.0]:
            raise Unsupported(f"Resize scales must keep N and C, got {scales}")
    values = sizes if sizes is not None else scales
    if len(values) != 4:
        raise Unsupported(f"only 4-d Resize is supported, got {values}")
    coords = node.attr("coordinate_transformation_mode", "")
    op = Resize(mode, align_corners, None if sizes is None else tuple(sizes[2:]),
                None if scales is None else tuple(scales[2:]), integer_upscale,
                coords == "pytorch_half_pixel")
    shape = ctx.static_shape(node.input(0))
    if shape is not None:
        try:
            op.out_size(shape)
        except ValueError as exc:
            raise Unsupported(str(exc)) from None
    return op, node.inputs[:1], node.outputs[:1]


@dataclasses.dataclass(frozen=True)
class Resample(OnnxOp):
    """ONNX Resize by separable per-axis weights (:mod:`.resample`), over ``axes`` in
    order. ``scales``/``sizes`` and ``roi`` (starts then ends) are per resized axis."""

    mode: str
    axes: tuple[int, ...]
    sizes: tuple[int, ...] | None
    scales: tuple[float, ...] | None
    coords: str
    nearest_mode: str = "round_prefer_floor"
    cubic_a: float = -0.75
    exclude_outside: bool = False
    antialias: bool = False
    policy: str = "stretch"
    roi: tuple[float, ...] | None = None
    extrapolation: float = 0.0

    def __call__(self, mod: Any, x: Tensor) -> Tensor:
        axes = [normalize_axis(a, x.ndim) for a in self.axes]
        lengths = [x.shape[a] for a in axes]
        outs, scales = output_sizes(lengths, self.scales, self.sizes, self.policy)
        dtype = x.dtype
        y = x if self.mode == "nearest" else F.astype(x, "float32")
        for k, axis in enumerate(axes):
            roi = None if self.roi is None else (self.roi[k], self.roi[k + len(axes)])
            if math.isclose(scales[k], 1.0) and outs[k] == lengths[k] and \
                    (roi is None or roi == (0.0, 1.0)):
                continue
            weights, outside = axis_weights(
                lengths[k], outs[k], scales[k], self.mode, self.coords,
                nearest_mode=self.nearest_mode, cubic_a=self.cubic_a,
                exclude_outside=self.exclude_outside, antialias=self.antialias, roi=roi)
            y = _apply(y, axis, weights)
            if outside is not None:
                shape = [1] * y.ndim
                shape[axis] = outs[k]
                mask = F.broadcast_to(Tensor(outside.reshape(shape)), y.shape)
                y = F.where(mask, F.full_like(y, self.extrapolation), y)
        return y if y.dtype == dtype else F.astype(y, dtype)


def _apply(y: Tensor, axis: int, weights: np.ndarray) -> Tensor:
    """Resample ``axis`` of ``y``: pick indices (int weights) or ``matmul`` by the
    ``[out, in]`` weights."""
    if weights.dtype.kind == "i":
        return y[(slice(None),) * axis + (Tensor(weights),)]
    perm = [a for a in range(y.ndim) if a != axis] + [axis]
    moved = F.transpose(y, perm)
    lead = tuple(moved.shape[:-1])
    flat = F.matmul(F.reshape(moved, (-1, weights.shape[1])), Tensor(weights.T.copy()))
    back = [perm.index(a) for a in range(y.ndim)]
    return F.transpose(F.reshape(flat, (*lead, weights.shape[0])), back)


_COORDS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
           "asymmetric", "tf_crop_and_resize")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _resample(node: Node, ctx: Any) -> Converted:
    """The node as a :class:`Resample` (opset 11 and later)."""
    mode = node.attr("mode", "nearest")
    coords = node.attr("coordinate_transformation_mode", "half_pixel")
    nearest_mode = node.attr("nearest_mode", "round_prefer_floor")
    policy = node.attr("keep_aspect_ratio_policy", "stretch")
    antialias = bool(node.attr("antialias", 0))
    if mode not in ("nearest", "linear", "cubic") or coords not in _COORDS or \
            nearest_mode not in _NEAREST or policy not in ("stretch", "not_larger",
                                                           "not_smaller"):
        raise Unsupported(f"mode={mode!r}, coordinate_transformation_mode={coords!r}, "
                          f"nearest_mode={nearest_mode!r}, keep_aspect_ratio_policy="
                          f"{policy!r} is not a Resize ONNX defines")
    if mode == "nearest" and antialias:
        raise Unsupported("antialias with nearest mode")
    dtype = ctx.dtypes.get(node.input(0))
    if mode != "nearest" and dtype is not None and dtype.kind != "f":
        raise Unsupported(f"{mode} Resize of {dtype} values (float32/float16 only)")
    sizes = scales = None
    if node.input(3):
        sizes = tuple(int(v) for v in ctx.const(node.input(3), "Resize sizes"))
        count = len(sizes)
    else:
        scales = tuple(float(v) for v in np.asarray(
            ctx.const(node.input(2), "Resize scales"), dtype=np.float32))
        count = len(scales)
    axes = node.attr("axes")
    axes = tuple(int(a) for a in axes) if axes is not None else tuple(range(count))
    if len(axes) != count:
        raise Unsupported(f"Resize axes {list(axes)} do not match {count} scales/sizes")
    roi = None
    if coords == "tf_crop_and_resize":
        roi = tuple(float(v) for v in ctx.const(node.input(1), "Resize roi"))
        if len(roi) != 2 * count:
            raise Unsupported(f"Resize roi {list(roi)} needs {2 * count} values")
    op = Resample(mode, axes, sizes, scales, coords, nearest_mode,
                  float(node.attr("cubic_coeff_a", -0.75)), bool(node.attr("exclude_outside", 0)),
                  antialias, policy, roi, float(node.attr("extrapolation_value", 0.0)))
    return op, node.inputs[:1], node.outputs[:1]


@converter("Resize")
def _resize(node: Node, ctx: Any) -> Converted:
    try:
        return _megengine_resize(node, ctx)
    except Unsupported:
        if ctx.opset < 11:
            raise
    return _resample(node, ctx)


@converter("Upsample")
def _upsample(node: Node, ctx: Any) -> Converted:
    scales = np.asarray(ctx.const(node.input(1), "Upsample scales"), dtype=np.float32)
    if node.attr("mode", "nearest") != "nearest" or np.any(scales != np.round(scales)):
        raise Unsupported("Upsample other than nearest with whole scales (deprecated op)")
    op = Resample("nearest", tuple(range(len(scales))), None, tuple(float(s) for s in scales),
                  "asymmetric", "floor")
    return op, node.inputs[:1], node.outputs[:1]


__all__: list[str] = []
