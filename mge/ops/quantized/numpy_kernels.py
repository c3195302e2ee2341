"""numpy kernels with MegEngine's integer semantics for quantized dtypes.

* ``TypeCvt``: dequantize (``(q - zp) * scale`` in float32), quantize (``x / scale``,
  ``roundf``, ``+ zp``, saturate), or both between two quantized dtypes.
* ``ConvBiasForward`` on ``QuantizedS8``: an exact integer accumulator (int8 products
  summed in float64, exact for any real filter size) dequantized with ``scale_src *
  scale_filter``, plus the dequantized ``QuantizedS32`` bias, the nonlinearity, then
  quantized to the output dtype times the reciprocal scale: float32 steps in MegEngine
  1.13's x86 order, so that its outputs are matched bit for bit, ties included.
* ``MatrixMul``/``BatchedMatrixMul`` of ``QuantizedS8``: the exact ``QuantizedS32`` product.
* ``Elemwise`` on one quantized dtype: exact saturating integer arithmetic for the modes
  that have it, else dequantize, compute, quantize; ``ElemwiseMultiType`` likewise.
* ``PoolingForward``: integer max; averages ``roundf(sum / count)``.

Each wraps the op's float kernel and preparation (which keep running float inputs); the
quantization parameters come from the inputs' dtypes (the plan's infos, or the arrays').

Example:
    >>> from mge.dtype import dtype_spec, qint8
    >>> from mge.ops import TypeCvt
    >>> cvt = TypeCvt(dtype=dtype_spec(qint8(0.5)))
    >>> type_cvt(cvt, [np.dtype("float32")], np.array([0.74, -0.75], "float32")).tolist()
    [1, -2]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...core.opdef import OpDef, TensorInfo
from ...dtype import (
    canonical_dtype,
    code_zero_point,
    dequantize_array,
    dtype_name,
    get_scale,
    is_quantize,
    quantize_array,
    quantized_range,
    round_half_away,
)
from ..conv import ConvBiasForward, ConvolutionForward
from ..conv import numpy_kernels as _conv_kernels  # noqa: F401 - the float kernels wrapped here
from ..elemwise import Elemwise, TypeCvt
from ..elemwise.numpy_kernels import ELEMWISE
from ..nn import BatchedMatrixMul, MatrixMul
from ..nn import numpy_kernels as _nn_kernels  # noqa: F401
from ..pooling import PoolingForward
from ..pooling import numpy_kernels as _pooling_kernels  # noqa: F401
from ..registry import NUMPY, Prepared, PrepareSite
from . import ElemwiseMultiType

F32, F64 = np.dtype("float32"), np.dtype("float64")
Dtypes = Sequence[np.dtype]
QKernel = Callable[..., np.ndarray]


def _quantized_variant(cls: type[OpDef], applies: Callable[[OpDef, Dtypes], bool]
                       ) -> Callable[[QKernel], QKernel]:
    """Register ``qkernel(op, input_dtypes, *arrays)`` as ``cls``'s numpy kernel where
    ``applies(op, input_dtypes)``; the float kernel and preparation run otherwise."""

    def deco(qkernel: QKernel) -> QKernel:
        plain = cls.kernels.get("numpy")
        prepare = cls.preparers.get("numpy")

        def kernel(op: OpDef, *arrays: np.ndarray) -> np.ndarray:
            dtypes = [a.dtype for a in arrays]
            if applies(op, dtypes):
                return qkernel(op, dtypes, *arrays)
            if plain is None:
                raise NotImplementedError(f"backend 'numpy' has no kernel for {op.type_name}")
            return plain(op, *arrays)

        def preparer(op: OpDef, site: PrepareSite) -> Prepared | None:
            dtypes = [i.dtype for i in site.inputs]
            if applies(op, dtypes):
                return Prepared(functools.partial(qkernel, op, dtypes), site.all_args())
            return prepare(op, site) if prepare is not None else None

        NUMPY.kernel(cls)(kernel)
        NUMPY.preparer(cls)(preparer)
        return qkernel

    return deco


def _any_quantized(op: OpDef, dtypes: Dtypes) -> bool:
    return any(is_quantize(d) for d in dtypes)


def _out_dtype(op: OpDef) -> np.dtype | None:
    spec = getattr(op, "dtype", "")
    return canonical_dtype(spec) if spec else None


def _quantized_target(op: OpDef, dtypes: Dtypes) -> bool:
    out = _out_dtype(op)
    return _any_quantized(op, dtypes) or (out is not None and is_quantize(out))


def _need_quantized(op: OpDef, dtypes: Dtypes) -> None:
    if not all(is_quantize(d) for d in dtypes):
        raise NotImplementedError(
            f"{op.type_name}: quantized inputs without their quantization parameters "
            f"({', '.join(dtype_name(d) for d in dtypes)})")


def _real(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return dequantize_array(np.asarray(x).view(dtype.newbyteorder("=")), dtype)


def _store(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.ascontiguousarray(values).astype(dtype, copy=False)


# ------------------------------------------------------------------------------ TypeCvt
@_quantized_variant(TypeCvt, _quantized_target)
def type_cvt(op: TypeCvt, dtypes: Dtypes, x: np.ndarray) -> np.ndarray:
    out = canonical_dtype(op.dtype)
    if is_quantize(dtypes[0]):
        x = _real(x, dtypes[0])
    elif is_quantize(out) and x.dtype.kind not in "fiub":
        raise NotImplementedError(f"TypeCvt: cannot quantize {dtype_name(x.dtype)}")
    if is_quantize(out):
        return _store(quantize_array(x, out), out)
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(out)


# ------------------------------------------------------------------------------ conv
def _conv_accumulate(op: ConvBiasForward, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The exact integer accumulator of a quantized NCHW convolution (float64 values)."""
    if op.format != "NCHW":
        raise NotImplementedError(f"{op.type_name}: quantized format {op.format} (mge runs "
                                  "quantized convolutions in NCHW)")
    dense, perm, flip = op.filter_layout()
    f = (w[None] if dense else w).transpose(perm).astype(F64)
    if flip:
        f = f[..., ::-1, ::-1]
    groups, ocpg, icpg, kh, kw = f.shape
    xp = np.pad(x.astype(F64), ((0, 0), (0, 0), (op.pad_h,) * 2, (op.pad_w,) * 2))
    span_h, span_w = (kh - 1) * op.dilate_h + 1, (kw - 1) * op.dilate_w + 1
    win = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    win = win[:, :, ::op.stride_h, ::op.stride_w, ::op.dilate_h, ::op.dilate_w]
    n, _, oh, ow = win.shape[:4]
    win = win.reshape(n, groups, icpg, oh, ow, kh, kw)
    out = np.einsum("ngcyxhw,gochw->ngoyx", win, f, optimize=True)
    return out.reshape(n, groups * ocpg, oh, ow)


def _apply_nonline(mode: str, real: np.ndarray, what: str) -> np.ndarray:
    if mode == "IDENTITY":
        return real
    if mode not in ELEMWISE:
        raise NotImplementedError(f"{what}: quantized nonlinearity {mode}")
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(ELEMWISE[mode](real), F32)


@_quantized_variant(ConvBiasForward, _quantized_target)
def conv_bias(op: ConvBiasForward, dtypes: Dtypes, x: np.ndarray, w: np.ndarray,
              bias: np.ndarray | None = None, z: np.ndarray | None = None) -> np.ndarray:
    _need_quantized(op, dtypes)
    if z is not None:
        raise NotImplementedError("ConvBiasForward: a quantized z input is not supported")
    acc_scale = np.float32(get_scale(dtypes[0])) * np.float32(get_scale(dtypes[1]))
    acc = np.clip(_conv_accumulate(op, x, w), -(2**31), 2**31 - 1)  # QuantizedS32
    if _avx2_channel_wise(op, w, dtypes, bias):
        # MegEngine's x86 AVX2 channel-wise kernels add the int32 bias to the accumulator
        # and requantize with one float32 factor, bias scale / output scale
        total = acc + (0 if bias is None else bias.astype(F64))
        bias_scale = np.float32(get_scale(dtypes[2])) if bias is not None else acc_scale
        factor = bias_scale / np.float32(get_scale(_out_dtype(op)))
        out = _out_dtype(op)
        with np.errstate(invalid="ignore", over="ignore"):
            q = round_half_away(np.clip(total, -(2**31), 2**31 - 1).astype(F32) * factor)
        return _store(np.clip(q, *quantized_range(out)), out)
    real = acc.astype(F32) * acc_scale
    if bias is not None:  # added as a real, as MegEngine's x86 kernels do (ties differ)
        real += bias.astype(F32) * np.float32(get_scale(dtypes[2]))
    real = _apply_nonline(op.epilogue(), real, op.type_name)
    return _requantize(real, _out_dtype(op))


def _avx2_channel_wise(op: ConvBiasForward, w: np.ndarray, dtypes: Dtypes,
                       bias: np.ndarray | None) -> bool:
    """Whether MegEngine 1.13's x86 picks its AVX2 channel-wise int8 kernel (the
    ``chanwise_avx2_stride{1,2}_qint8_usable`` conditions; identity epilogue only)."""
    if op.sparse != "GROUP" or op.format != "NCHW" or w.ndim != 5 or w.shape[1:3] != (1, 1):
        return False
    if op.epilogue() != "IDENTITY" or (op.dilate_h, op.dilate_w) != (1, 1):
        return False
    if (op.stride_h, op.stride_w) not in ((1, 1), (2, 2)) or w.shape[3] not in (2, 3, 5, 7):
        return False
    if bias is not None and bias.size != w.shape[0]:
        return False  # a full bias tensor (BiasMode::BIAS) takes another kernel
    names = [dtype_name(d) for d in dtypes[:2]] + [dtype_name(_out_dtype(op))]
    return all(n.startswith("QuantizedS8") for n in names)


@_quantized_variant(ConvolutionForward, _any_quantized)
def convolution(op: ConvolutionForward, dtypes: Dtypes, x: np.ndarray, w: np.ndarray
                ) -> np.ndarray:
    raise NotImplementedError(f"{op.type_name} on quantized inputs: MegEngine dumps "
                              "quantized convolutions as ConvBiasForward")


# ------------------------------------------------------------------------------ matmul
@_quantized_variant(MatrixMul, _any_quantized)
def matrix_mul(op: MatrixMul, dtypes: Dtypes, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    _need_quantized(op, dtypes)
    a64, b64 = a.astype(F64), b.astype(F64)
    if op.transposeA:
        a64 = a64.swapaxes(-1, -2)
    if op.transposeB:
        b64 = b64.swapaxes(-1, -2)
    out = op.check_inputs([_info(a, dtypes[0]), _info(b, dtypes[1])])[0].dtype
    return _store(np.clip(a64 @ b64, *quantized_range(out)), out)



_quantized_variant(BatchedMatrixMul, _any_quantized)(matrix_mul)


def _info(x: np.ndarray, dtype: np.dtype) -> TensorInfo:
    return TensorInfo(tuple(x.shape), dtype)


# ------------------------------------------------------------------------------ elementwise
#: modes computed exactly on the integers when inputs and output share one dtype
_INTEGER_MODES = {
    "ADD": np.add, "SUB": np.subtract, "MAX": np.maximum, "MIN": np.minimum,
    "NEGATE": np.negative, "ABS": np.abs,
    "RELU": lambda x: np.maximum(x, 0), "FUSE_ADD_RELU": lambda x, y: np.maximum(x + y, 0),
}


def _float_mode(mode: str, reals: Sequence[np.ndarray], out: np.dtype,
                reciprocal: bool = False) -> np.ndarray:
    """``mode`` on the reals, quantized to ``out``; ``reciprocal``: multiply by
    ``1 / scale`` instead of dividing (MegEngine's x86 kernels do: ties round differently)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result = np.asarray(ELEMWISE[mode](*reals))
    if result.dtype == np.bool_:
        return result
    if reciprocal:
        return _requantize(result.astype(F32), out)
    return _store(quantize_array(result.astype(F32), out), out)


def _requantize(real: np.ndarray, out: np.dtype) -> np.ndarray:
    """float32 reals in ``out`` as MegEngine's x86 int8 kernels quantize them: times the
    float32 reciprocal of the scale, ``roundf``, plus the zero point, saturated."""
    with np.errstate(invalid="ignore", over="ignore"):
        q = round_half_away(real * (np.float32(1) / np.float32(get_scale(out))))
    zp = code_zero_point(out)
    return _store(np.clip(np.nan_to_num(q) + zp, *quantized_range(out)), out)


@_quantized_variant(Elemwise, _any_quantized)
def elemwise(op: Elemwise, dtypes: Dtypes, *xs: np.ndarray) -> np.ndarray:
    _need_quantized(op, dtypes)
    out = dtypes[0]
    exact = _INTEGER_MODES.get(op.mode)
    if exact is not None and "zero_point" not in out.metadata["mgb_dtype"]:
        values = exact(*[x.astype(np.int64) for x in xs])
        return _store(np.clip(values, *quantized_range(out)), out)
    return _float_mode(op.mode, [_real(x, d) for x, d in zip(xs, dtypes, strict=True)], out)


@NUMPY.preparer(ElemwiseMultiType)
def prepare_multi_type(op: ElemwiseMultiType, site: PrepareSite) -> Prepared:
    return Prepared(functools.partial(multi_type, op, [i.dtype for i in site.inputs]),
                    site.all_args())


def multi_type(op: ElemwiseMultiType, dtypes: Dtypes, *xs: np.ndarray) -> np.ndarray:
    """``ElemwiseMultiType``: dequantize, the float mode, quantize to ``op.dtype``."""
    _need_quantized(op, dtypes)
    reals = [_real(x, d) for x, d in zip(xs, dtypes, strict=True)]
    return _float_mode(op.float_mode(), reals, canonical_dtype(op.dtype), reciprocal=True)


@NUMPY.kernel(ElemwiseMultiType)
def multi_type_kernel(op: ElemwiseMultiType, *xs: np.ndarray) -> np.ndarray:
    return multi_type(op, [x.dtype for x in xs], *xs)


# ------------------------------------------------------------------------------ pooling
@_quantized_variant(PoolingForward, _any_quantized)
def pooling(op: PoolingForward, dtypes: Dtypes, x: np.ndarray) -> np.ndarray:
    _need_quantized(op, dtypes)
    dtype = dtypes[0]
    if op.format != "NCHW":
        raise NotImplementedError(f"PoolingForward: quantized format {op.format}")
    ph, pw, sh, sw = op.pad_h, op.pad_w, op.stride_h, op.stride_w
    lo = quantized_range(dtype)[0]
    fill = lo if op.mode == "MAX" else 0
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    win = sliding_window_view(xp, (op.window_h, op.window_w), axis=(2, 3))[:, :, ::sh, ::sw]
    if op.mode == "MAX":
        return _store(win.max(axis=(-2, -1)), dtype)
    total = win.sum(axis=(-2, -1)).astype(F32)
    if op.mode == "AVERAGE":
        count = np.float32(op.window_h * op.window_w)
    else:  # AVERAGE_COUNT_EXCLUDE_PADDING
        ones = np.pad(np.ones(x.shape[2:], np.int64), ((ph, ph), (pw, pw)))
        count = sliding_window_view(ones, (op.window_h, op.window_w))[::sh, ::sw].sum(
            axis=(-2, -1)).astype(F32)
    zp = code_zero_point(dtype)
    if zp:
        raise NotImplementedError("PoolingForward: average of an asymmetric quantized dtype")
    return _store(np.clip(round_half_away(total / count), *quantized_range(dtype)), dtype)
