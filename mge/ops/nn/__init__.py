"""Network ops: ``MatrixMul``, ``BatchedMatrixMul``, ``MatrixInverse``, ``BatchNormForward``
(and its gradient ``BatchNormBackward``), ``SoftmaxForward``, the feature normalizations
``LayerNorm``, ``GroupNorm``, ``InstanceNorm``, ``GeneralNorm`` and the local response
normalization ``LRN``.

``MatrixMul`` is 2-d and ``BatchedMatrixMul`` 3-d with equal batch sizes (the functional
layer reshapes and broadcasts, as MegEngine does). ``BatchNormForward`` mirrors the
MegEngine graph operator's six outputs::

    running_mean, running_var, save_mean, save_inv_variance, reserve, y

``running_*`` are the updated statistics in ``TRAINING`` mode with five inputs
(``avg_factor`` weighs the batch statistics, the variance update is unbiased) and empty
(shape ``(0,)``) otherwise; ``save_mean``/``save_inv_variance`` are the statistics used
for ``y`` (batch mean and ``1/sqrt(var + eps)`` when training, the given running ones
in ``INFERENCE``); ``reserve`` is an empty uint8 buffer; ``y`` is
``(x - mean) / sqrt(var + epsilon) * scale + bias``.

Example:
    >>> MatrixMul(transposeB=True).infer([TensorInfo((2, 3), F32), TensorInfo((4, 3), F32)])
    [TensorInfo(shape=(2, 4), dtype=dtype('float32'), value=None)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ...core.opdef import (
    Memory,
    MgeForm,
    OpDef,
    TensorInfo,
    check_enum,
    normalize_axis,
    register_op,
)
from ...dtype import dtype_name, get_scale, is_quantize, qint32, quantized_cname
from ..conv import COMPUTE_MODES, FLOAT_DTYPES

F32 = np.dtype("float32")
U8 = np.dtype("uint8")
BN_PARAM_DIMS = ("DIM_11HW", "DIM_1CHW", "DIM_1C11", "DIM_111C")
BN_FWD_MODES = ("TRAINING", "INFERENCE")


def _matmul_shape(op: OpDef, inputs: Sequence[TensorInfo], ndim: int) -> tuple[int, ...]:
    check_enum(op, "compute_mode", COMPUTE_MODES)
    check_enum(op, "format", ("DEFAULT",))
    a, b = inputs
    if a.ndim != ndim or b.ndim != ndim:
        op.fail(f"inputs must be {ndim}-d", inputs)
    if (a.dtype not in FLOAT_DTYPES or b.dtype != a.dtype) and not (
            is_quantize(a.dtype) or is_quantize(b.dtype)):  # quantized: _matmul_dtype
        op.fail("inputs must share one float dtype (float32 or float16)", inputs)
    batch = a.shape[:-2]
    if b.shape[:-2] != batch:
        op.fail("batch sizes differ", inputs)
    m, ka = a.shape[-2:][::-1] if op.transposeA else a.shape[-2:]
    kb, n = b.shape[-2:][::-1] if op.transposeB else b.shape[-2:]
    if ka != kb:
        op.fail(f"inner dimensions differ ({ka} vs {kb})", inputs)
    return (*batch, m, n)


def _matmul_dtype(op: OpDef, inputs: Sequence[TensorInfo]) -> np.dtype:
    """The product's dtype: the operands' own, or for ``QuantizedS8`` operands
    ``QuantizedS32`` with scale ``scale_a * scale_b`` (float32, as MegEngine)."""
    a, b = inputs[0].dtype, inputs[1].dtype
    if not (is_quantize(a) or is_quantize(b)):
        return a
    if not (is_quantize(a) and is_quantize(b)) or \
            {quantized_cname(a), quantized_cname(b)} != {"QuantizedS8"}:
        op.fail(f"quantized operands must both be QuantizedS8, got {dtype_name(a)} and "
                f"{dtype_name(b)}", inputs)
    return qint32(float(np.float32(get_scale(a)) * np.float32(get_scale(b))))


@register_op
class MatrixMul(OpDef):
    """``op(A) @ op(B)`` for 2-d A, B; ``op`` transposes when ``transposeA``/``transposeB``."""

    type_name = "MatrixMul"
    memory = Memory.FRESH
    mge_form = MgeForm("MatrixMulV2", ("MatrixMul",))
    nr_inputs = (2,)
    transposeA: bool = False  # noqa: N815 - MegEngine field name
    transposeB: bool = False  # noqa: N815 - MegEngine field name
    compute_mode: str = "DEFAULT"
    format: str = "DEFAULT"

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        return [TensorInfo(_matmul_shape(self, inputs, 2), _matmul_dtype(self, inputs))]

    def in_float16(self, inputs: Sequence[TensorInfo], compute_f32: bool) -> OpDef:
        return dataclasses.replace(self, compute_mode="FLOAT32") if compute_f32 else self


@register_op
class BatchedMatrixMul(MatrixMul):
    """``MatrixMul`` over 3-d inputs ``(batch, ., .)`` with equal batch sizes."""

    type_name = "BatchedMatrixMul"
    memory = Memory.FRESH
    mge_form = MgeForm("BatchedMatrixMulV2", ("MatrixMul",))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        return [TensorInfo(_matmul_shape(self, inputs, 3), _matmul_dtype(self, inputs))]


@register_op
class MatrixInverse(OpDef):
    """The inverse of each square matrix of a ``(..., n, n)`` float input (a singular one
    fails the run, naming the op: it has no inverse)."""

    type_name = "MatrixInverse"
    memory = Memory.FRESH
    mge_form = MgeForm("MatrixInverse", ("Empty",))
    nr_inputs = (1,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        (x,) = inputs
        if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
            self.fail("input must be batches of square matrices (..., n, n)", inputs)
        if x.dtype not in FLOAT_DTYPES:
            self.fail(f"input must be float32 or float16, got {x.dtype}", inputs)
        return [TensorInfo(x.shape, x.dtype)]

    def singular(self) -> ValueError:
        """The error a singular input raises."""
        return ValueError(f"{self}: a matrix of the input is singular (it has no inverse)")


def bn_reduce_axes(param_shape: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """Axes of an ``ndim``-d input that batch norm reduces over (where the param dim is 1)."""
    return tuple(i for i in range(ndim) if param_shape[i] == 1)


@dataclasses.dataclass(frozen=True)
class BNParams(OpDef):
    """MegEngine's ``BN`` param, shared by the batch-norm ops; ``scale`` and ``bias`` are
    MegEngine fields the kernels do not use.

    As in MegEngine 1.13, the params' own shape decides what is normalized, whatever
    ``param_dim`` says: they are 4-d, each dim 1 (reduced over) or the input's (kept), so
    ``DIM_11HW`` with ``(1, C, 1, 1)`` params normalizes per channel. ``param_dim`` only
    names the channel dim, which the params must keep: 3 for ``DIM_111C``, else 1 (so
    ``DIM_11HW`` params ``(1, 1, H, W)`` need ``C == 1``, as in MegEngine).
    """

    param_dim: str = "DIM_11HW"
    fwd_mode: str = "TRAINING"
    epsilon: float = 1e-4
    avg_factor: float = 1.0
    scale: float = 1.0
    bias: float = 0.0

    def full_shape(self, x: TensorInfo, inputs: Sequence[TensorInfo]) -> tuple[int, ...]:
        """``x``'s shape padded to 4-d with trailing ones (validated)."""
        check_enum(self, "param_dim", BN_PARAM_DIMS)
        check_enum(self, "fwd_mode", BN_FWD_MODES)
        if x.dtype not in FLOAT_DTYPES:
            self.fail("x must be float32 or float16", inputs)
        if not 2 <= x.ndim <= 4:
            self.fail(f"x must be 2- to 4-d, got {x.ndim}-d", inputs)
        if self.param_dim == "DIM_111C" and x.ndim != 4:
            self.fail("DIM_111C needs a 4-d (NHWC) x", inputs)
        return x.shape + (1,) * (4 - x.ndim)

    def check_params(self, params: Sequence[TensorInfo], full: tuple[int, ...],
                     inputs: Sequence[TensorInfo]) -> tuple[int, ...]:
        """Check the params against ``x``'s 4-d shape ``full``; returns their shape."""
        pshape = params[0].shape
        for p in params:
            if p.shape != pshape or p.dtype != params[0].dtype or p.dtype.kind != "f":
                self.fail("params must share one float dtype and one shape", inputs)
        if len(pshape) != 4 or any(p not in (1, d) for p, d in zip(pshape, full, strict=True)):
            self.fail(f"params must be 4-d with each dim 1 or x's (x as 4-d: {full}), got "
                      f"{pshape}", inputs)
        channel = 3 if self.param_dim == "DIM_111C" else 1
        if pshape[channel] != full[channel]:
            self.fail(f"{self.param_dim} params must have x's {full[channel]} channels in dim "
                      f"{channel}, got {pshape}", inputs)
        return pshape


@register_op
class BatchNormForward(BNParams):
    """Batch normalization (MegEngine ``BN`` param; inputs ``x, scale, bias[, mean, var]``).

    ``x`` is 2- to 4-d (dims aligned from the left with the 4-d params, so a ``(N, C)``
    input takes ``(1, C, 1, 1)`` params); the params' shape picks the reduced dims
    (``BNParams``).

    >>> import numpy as np
    >>> op = BatchNormForward(param_dim="DIM_11HW", fwd_mode="INFERENCE")
    >>> [o.shape for o in op.infer([TensorInfo((2, 3, 4, 4), np.dtype("float32"))]
    ...                            + [TensorInfo((1, 3, 1, 1), np.dtype("float32"))] * 4)]
    [(0,), (0,), (1, 3, 1, 1), (1, 3, 1, 1), (0,), (2, 3, 4, 4)]
    """

    type_name = "BatchNormForward"
    format_rule = "first"
    memory = Memory.MAY_ALIAS
    mge_form = MgeForm("BatchNormV1", ("BN",))
    nr_inputs = (3, 5)

    def needs_stats(self, nr_inputs: int) -> bool:
        """True when the op updates and outputs running statistics."""
        return nr_inputs == 5 and self.fwd_mode == "TRAINING"

    def mge_outputs(self, nr_inputs: int) -> tuple[int, int | None] | None:
        """MegEngine marks the running-statistics outputs volatile (unlisted) unless
        they are updated (``TRAINING`` with ``mean, var`` inputs); its workspace, which
        mge's op has not, is always volatile."""
        return None if self.needs_stats(nr_inputs) else (2, None)

    def mge_shared_inputs(self, nr_inputs: int) -> tuple[int, ...]:
        """MegEngine updates the running ``mean, var`` in place: shared tensors."""
        return (3, 4) if self.needs_stats(nr_inputs) else ()

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        x, params = inputs[0], inputs[1:]
        full = self.full_shape(x, inputs)
        if self.fwd_mode == "INFERENCE" and len(inputs) != 5:
            self.fail("INFERENCE needs x, scale, bias, mean and variance", inputs)
        self.check_params(params, full, inputs)
        stat = params[0].shape if self.needs_stats(len(inputs)) else (0,)
        pinfo = TensorInfo(params[0].shape, params[0].dtype)
        return [TensorInfo(stat, params[0].dtype), TensorInfo(stat, params[0].dtype),
                pinfo, pinfo, TensorInfo((0,), U8), TensorInfo(x.shape, x.dtype)]


@register_op
class BatchNormBackward(BNParams):
    """The gradients of ``BatchNormForward``'s ``x``, ``scale`` and ``bias`` from that of
    ``y`` (MegEngine ``BatchNormBackward``).

    Inputs: ``x, dy, save_mean, save_inv_variance, scale, reserve`` (the forward op's
    saved statistics and reserve); outputs: ``d_scale, d_bias, dx``. ``TRAINING``
    differentiates through the batch statistics; ``INFERENCE`` treats them as constants.
    """

    type_name = "BatchNormBackward"
    memory = Memory.FRESH
    mge_form = MgeForm("BatchNormBackwardV1", ("BN",))
    nr_inputs = (6,)

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        x, dy, mean, inv, scale, _ = inputs
        full = self.full_shape(x, inputs)
        if dy.shape != x.shape or dy.dtype != x.dtype:
            self.fail("dy must have x's shape and dtype", inputs)
        pshape = self.check_params((scale, mean, inv), full, inputs)
        pinfo = TensorInfo(pshape, scale.dtype)
        return [pinfo, pinfo, TensorInfo(x.shape, x.dtype)]


@register_op
class SoftmaxForward(OpDef):
    """Softmax along ``axis`` (MegEngine ``Softmax`` param)."""

    type_name = "SoftmaxForward"
    memory = Memory.FRESH
    mge_form = MgeForm("Softmax", ("Softmax",))
    nr_inputs = (1,)
    axis: int = -1

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        x = inputs[0]
        if x.dtype not in FLOAT_DTYPES:
            self.fail("input must be float32 or float16", inputs)
        normalize_axis(self, self.axis, x.ndim, inputs)
        return [TensorInfo(x.shape, x.dtype)]


@register_op
class LayerNorm(OpDef):
    """Normalization over the trailing ``normalized_dim`` dims (MegEngine ``LayerNorm``).

    Inputs ``data`` (float) and, when ``affine``, ``weight`` and ``bias`` with
    ``normalized_size`` elements. Outputs ``dst = (x - mean) * rstd * weight + bias`` (the
    data's shape and dtype), ``mean`` and ``rstd = 1 / sqrt(var + eps)`` (float32, the
    leading dims; ``var`` is the biased variance of each slice).
    """

    type_name = "LayerNorm"
    memory = Memory.FRESH
    mge_form = MgeForm("LayerNorm", ("LayerNorm",))
    nr_inputs = (1, 3)
    affine: bool = True
    eps: float = 1e-5
    normalized_dim: int = 1
    normalized_size: int = 1

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        x = _norm_inputs(self, inputs, self.normalized_size)
        if not 0 < self.normalized_dim <= x.ndim:
            self.fail(f"normalized_dim {self.normalized_dim} must be in [1, {x.ndim}]", inputs)
        lead = x.shape[: x.ndim - self.normalized_dim]
        if int(np.prod(x.shape[len(lead):])) != self.normalized_size:
            self.fail(f"the trailing {self.normalized_dim} dims do not hold normalized_size "
                      f"{self.normalized_size} elements", inputs)
        return [TensorInfo(x.shape, x.dtype), TensorInfo(lead, F32), TensorInfo(lead, F32)]


@register_op
class GroupNorm(OpDef):
    """Normalization of each of ``group`` channel groups of an NCHW sample (MegEngine
    ``GroupNorm``).

    Inputs ``data`` ``(N, C, H, W)`` and, when ``affine``, per-channel ``weight`` and
    ``bias`` ``(C,)``. Outputs ``dst`` and the float32 ``(N, group)`` statistics ``mean``
    and ``var`` (MegEngine names it ``rstd`` but stores the biased variance).
    """

    type_name = "GroupNorm"
    memory = Memory.FRESH
    mge_form = MgeForm("GroupNorm", ("GroupNorm",))
    nr_inputs = (1, 3)
    affine: bool = True
    eps: float = 1e-5
    group: int = 1
    format: str = "NCHW"

    def groups(self, channels: int) -> int:
        """The number of groups for ``channels`` channels."""
        return self.group

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        check_enum(self, "format", ("NCHW",))
        x = inputs[0]
        if x.ndim != 4:
            self.fail("data must be 4-d (NCHW)", inputs)
        g = self.groups(x.shape[1])
        if g < 1 or x.shape[1] % g:
            self.fail(f"{x.shape[1]} channels do not split into {g} groups", inputs)
        _norm_inputs(self, inputs, x.shape[1])
        stat = TensorInfo((x.shape[0], g), F32)
        return [TensorInfo(x.shape, x.dtype), stat, stat]


@register_op
class InstanceNorm(GroupNorm):
    """``GroupNorm`` with one group per channel (MegEngine ``InstanceNorm``, whose param
    is ``GroupNorm``'s; its ``group`` is ignored)."""

    type_name = "InstanceNorm"
    memory = Memory.FRESH
    mge_form = MgeForm("InstanceNorm", ("GroupNorm",))

    def groups(self, channels: int) -> int:
        return channels


@register_op
class GeneralNorm(OpDef):
    """Normalization over the dims ``axis_start .. axis_end - 1`` (MegEngine ``GeneralNorm``):
    outputs ``dst`` (data's shape and dtype; ``* weight + bias`` when ``affine``, both of
    the normalized dims' shape), ``mean`` and ``rstd`` (float32, the other dims)."""

    type_name = "GeneralNorm"
    memory = Memory.FRESH
    mge_form = MgeForm("GeneralNorm", ("GeneralNorm",))
    nr_inputs = (1, 3)
    affine: bool = True
    eps: float = 1e-5
    axis_start: int = 0
    axis_end: int = 0

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        x = inputs[0]
        if not 0 <= self.axis_start < self.axis_end <= x.ndim:
            self.fail(f"axes [{self.axis_start}, {self.axis_end}) must be a non-empty range "
                      f"of the {x.ndim} dims", inputs)
        normalized = x.shape[self.axis_start: self.axis_end]
        _norm_inputs(self, inputs, int(np.prod(normalized)))
        rest = x.shape[: self.axis_start] + x.shape[self.axis_end:]
        return [TensorInfo(x.shape, x.dtype), TensorInfo(rest, F32), TensorInfo(rest, F32)]

    def param_view(self, ndim: int, shape: Sequence[int]) -> tuple[int, ...]:
        """The broadcast shape of ``weight``/``bias`` for an ``ndim``-d input of ``shape``."""
        return tuple(shape[i] if self.axis_start <= i < self.axis_end else 1
                     for i in range(ndim))


@register_op
class LRN(OpDef):
    """Local response normalization across channels (MegEngine ``LRN``) of NCHW data:
    ``dst = src * (k + alpha * sum(src^2 over channels c-n//2 .. c+n//2))^-beta``, the
    window clipped at the first and last channel; ``n`` is odd."""

    type_name = "LRN"
    memory = Memory.FRESH
    mge_form = MgeForm("LRN", ("LRN",))
    nr_inputs = (1,)
    n: int = 5
    k: float = 2.0
    alpha: float = 1e-4
    beta: float = 0.75

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        (x,) = inputs
        if not isinstance(self.n, (int, np.integer)) or self.n < 1 or self.n % 2 == 0:
            self.fail(f"n must be a positive odd int, got {self.n!r}", inputs)
        if x.ndim != 4 or x.dtype not in FLOAT_DTYPES:
            self.fail("input must be 4-d NCHW float32 or float16", inputs)
        return [TensorInfo(x.shape, x.dtype)]


def _norm_inputs(op: OpDef, inputs: Sequence[TensorInfo], param_size: int) -> TensorInfo:
    """The data input, after checking its dtype and the affine ``weight``/``bias``."""
    x = inputs[0]
    if x.dtype not in FLOAT_DTYPES:
        op.fail("data must be float32 or float16", inputs)
    if len(inputs) != (3 if op.affine else 1):
        op.fail("takes data, weight and bias when affine, else data alone", inputs)
    for p in inputs[1:]:
        if p.dtype != x.dtype or int(np.prod(p.shape)) != param_size:
            op.fail(f"weight and bias must be {x.dtype} with {param_size} elements", inputs)
    return x


# gradient rules (reverse-mode autodiff: mge.core.autodiff)
from . import grad  # noqa: E402,F401
from .multi_head_attn import MultiHeadAttn  # noqa: E402,F401 - MegEngine's attention operator
from .svd import SVD  # noqa: E402,F401 - the op family's SVD
