"""Data types: the numpy dtypes mge tensors use and MegEngine's promotion rules.

MegEngine keeps tensors in 32-bit types: Python floats and float64 arrays become
float32, Python ints and int64 arrays become int32. Binary operators promote like
MegEngine 1.13 (checked against it): operands of one category (bool, integer, float)
promote to the wider type; mixing categories gives float32 (``bool + 1``,
``int32 + float16``); a Python scalar never widens a tensor's dtype within its category.

Example:
    >>> import numpy as np
    >>> canonical_dtype(np.float64)
    dtype('float32')
    >>> result_dtype(np.dtype("float16"), 2.0)
    dtype('float16')
"""

from __future__ import annotations

import re
from collections import namedtuple
from typing import Any

import ml_dtypes
import numpy as np

float32 = np.dtype("float32")
float16 = np.dtype("float16")
int32 = np.dtype("int32")
int16 = np.dtype("int16")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
uint16 = np.dtype("uint16")
bool_ = np.dtype("bool")
#: MegEngine's ``bfloat16`` (``megengine.core.tensor.dtype.bfloat16``): ml_dtypes' numpy
#: type (round to nearest even from float32, as MegEngine's)
bfloat16 = np.dtype(ml_dtypes.bfloat16)

SUPPORTED = (float32, float16, bfloat16, int32, int16, int8, uint8, uint16, bool_)

_CANONICAL = {
    np.dtype("float64"): float32,
    np.dtype("int64"): int32,
    np.dtype("uint32"): int32,
    np.dtype("uint64"): int32,
}


def canonical_dtype(dtype: Any) -> np.dtype:
    """Map any numpy-compatible dtype to the dtype mge stores (64-bit types narrow to 32).

    Raises:
        TypeError: for dtypes mge cannot hold (complex, object, strings).
    """
    if isinstance(dtype, str) and dtype.startswith("Quantized"):
        spec = _from_spec(dtype)
        if spec is not None:
            return spec
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"unsupported dtype {dtype!r}") from exc
    dt = _CANONICAL.get(dt, dt)
    if dt not in SUPPORTED:
        raise TypeError(f"unsupported dtype {dt} (mge supports {', '.join(map(str, SUPPORTED))})")
    return dt


def _kind(dt: np.dtype) -> str:
    """numpy's kind letter, ``"f"`` also for bfloat16 (a ``"V"`` dtype to numpy)."""
    return "f" if dt == bfloat16 else dt.kind


def is_float(dtype: np.dtype) -> bool:
    """True for floating point dtypes (bfloat16 included)."""
    return _kind(np.dtype(dtype)) == "f"


def scalar_dtype(value: Any) -> np.dtype:
    """The dtype a Python scalar takes on its own: bool, int32 or float32."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int32
    return float32


def result_dtype(*operands: Any) -> np.dtype:
    """MegEngine's dtype promotion for elementwise operands (dtypes or Python scalars).

    Tensor dtypes are given as ``np.dtype``; anything else counts as a Python scalar,
    which only decides the category (bool < int < float) and never the width.
    """
    tensor_dts = [np.dtype(o) for o in operands if isinstance(o, np.dtype)]
    scalars = [o for o in operands if not isinstance(o, np.dtype)]
    if not tensor_dts:
        return np.result_type(*[scalar_dtype(s) for s in scalars])
    dt = tensor_dts[0]
    for other in tensor_dts[1:]:
        dt = _promote_pair(dt, other)
    for s in scalars:  # MegEngine's scalars are float32 tensors, which bfloat16 does not absorb
        if _category(scalar_dtype(s)) > _category(dt) or dt == bfloat16:
            dt = float32
    return dt


def _category(dt: np.dtype) -> int:
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[_kind(dt)]


def _promote_pair(a: np.dtype, b: np.dtype) -> np.dtype:
    if a == b:
        return a
    if "c" in (a.kind, b.kind):  # MegEngine converts nothing to or from complex64
        raise RuntimeError(f"unsupported op for complex: operands of dtypes {a} and {b} "
                           "(complex64 combines with complex64 tensors only)")
    if _category(a) != _category(b) or bfloat16 in (a, b):  # bfloat16 and float16 meet
        return float32  # in float32 (numpy has no common type for them)
    return canonical_dtype(np.promote_types(a, b))


# ------------------------------------------------------------------ quantized dtypes
# A quantized dtype is a numpy integer dtype whose metadata says how its integers map to
# reals, exactly as MegEngine 1.13 represents them:
# ``np.dtype("int8", metadata={"mgb_dtype": {"name": "QuantizedS8", "scale": 0.1}})``.
# numpy compares dtypes without their metadata (``qint8(0.1) == np.int8``): compare
# quantized dtypes with :func:`is_dtype_equal`.


class QuantDtypeMeta(
    namedtuple("QuantDtypeMeta", ["name", "cname", "np_dtype_str", "qmin", "qmax", "is_unsigned"])
):
    """What defines a family of quantized dtypes (MegEngine's ``QuantDtypeMeta``).

    Args:
        name: unique name (``"qint8"``).
        cname: MegEngine's C++ dtype name written in ``.mge`` files (``"QuantizedS8"``);
            None for dtypes that cannot be dumped.
        np_dtype_str: the numpy storage dtype (``"int8"``).
        qmin, qmax: the integer range.
        is_unsigned: asymmetric (with a zero point); inferred from ``np_dtype_str``.

    Example:
        >>> QuantDtypeMeta("qint8_narrow", "QuantizedS8", "int8", -127, 127).is_unsigned
        False
    """

    __slots__ = ()

    def __new__(  # noqa: D102 - documented on the class
        cls, name: str, cname: str | None, np_dtype_str: str, qmin: int, qmax: int,
        is_unsigned: bool | None = None,
    ) -> QuantDtypeMeta:
        if not isinstance(np_dtype_str, str):
            raise TypeError(f"QuantDtypeMeta: np_dtype_str must be a str, got {np_dtype_str!r}")
        unsigned = np_dtype_str[0] == "u" if is_unsigned is None else is_unsigned
        return super().__new__(cls, name, cname, np_dtype_str, qmin, qmax, unsigned)

    def __copy__(self) -> QuantDtypeMeta:
        return self

    def __deepcopy__(self, memo: Any) -> QuantDtypeMeta:
        # a meta is a singleton: FakeQuantize checks ``qparams.dtype_meta is self.dtype``
        return self


_builtin_quant_dtypes: dict[str, QuantDtypeMeta] = {
    "quint8": QuantDtypeMeta("quint8", "Quantized8Asymm", "uint8", 0, 255),
    "qint8": QuantDtypeMeta("qint8", "QuantizedS8", "int8", -128, 127),
    "qint8_narrow": QuantDtypeMeta("qint8_narrow", "QuantizedS8", "int8", -127, 127),
    "quint4": QuantDtypeMeta("quint4", "Quantized4Asymm", "uint8", 0, 15),
    "qint4": QuantDtypeMeta("qint4", "QuantizedS4", "int8", -8, 7),
    "qint1": QuantDtypeMeta("qint1", "QuantizedS1", "int8", 0, 1),
    "qint32": QuantDtypeMeta("qint32", "QuantizedS32", "int32", -(2**31), 2**31 - 1),
    # no C++ dtype: usable for QAT, not for dumping
    "quint2": QuantDtypeMeta("quint2", None, "uint8", 0, 3),
    "qint2": QuantDtypeMeta("qint2", None, "int8", -2, 1),
}

#: the integer range of each C++ quantized dtype (what a conversion saturates to)
_CNAME_RANGE = {
    "Quantized8Asymm": (0, 255), "QuantizedS8": (-128, 127), "Quantized4Asymm": (0, 15),
    "QuantizedS4": (-8, 7), "QuantizedS1": (0, 1), "QuantizedS32": (-(2**31), 2**31 - 1),
    "QuantizedS16": (-(2**15), 2**15 - 1),
}


def create_quantized_dtype(
    dtype_meta: QuantDtypeMeta, scale: float, zp: int | None
) -> np.dtype:
    """The quantized numpy dtype of ``dtype_meta`` with ``scale`` (and ``zp`` if unsigned).

    Raises:
        ValueError: a meta without ``cname``; a zero point given to a signed dtype, or
            missing, non-integer or out of range for an unsigned one.

    Example:
        >>> dt = create_quantized_dtype(_builtin_quant_dtypes["quint8"], 0.5, 128)
        >>> dt.metadata["mgb_dtype"]
        {'name': 'Quantized8Asymm', 'scale': 0.5, 'zero_point': 128}
    """
    if dtype_meta.cname is None:
        raise ValueError(f"dtype {dtype_meta.name} without cname attr is not supported.")
    info: dict[str, Any] = {"name": dtype_meta.cname, "scale": float(scale)}
    if dtype_meta.is_unsigned:
        if zp is None or int(zp) != zp:
            raise ValueError(f"zero_point should be an integer, got {zp!r} for {dtype_meta.name}")
        if not dtype_meta.qmin <= int(zp) <= dtype_meta.qmax:
            raise ValueError(
                f"zero_point should be within [{dtype_meta.qmin}, {dtype_meta.qmax}] "
                f"for {dtype_meta.name}"
            )
        info["zero_point"] = int(zp)
    elif zp is not None:
        raise ValueError(
            f"'{dtype_meta.name}' only supports symmetric quantization, "
            f"zero_point should be None, but actually got '{zp}'"
        )
    return np.dtype(dtype_meta.np_dtype_str, metadata={"mgb_dtype": info})


def quint8(scale: float, zero_point: int) -> np.dtype:
    """Unsigned 8-bit quantized dtype: ``real = scale * (uint8 - zero_point)``."""
    return create_quantized_dtype(_builtin_quant_dtypes["quint8"], scale, zero_point)


def qint8(scale: float) -> np.dtype:
    """Signed 8-bit quantized dtype: ``real = scale * int8``.

    Example:
        >>> get_scale(qint8(0.25)), is_quantize(qint8(0.25)), is_quantize(np.int8)
        (0.25, True, False)
    """
    return create_quantized_dtype(_builtin_quant_dtypes["qint8"], scale, None)


def qint32(scale: float) -> np.dtype:
    """Signed 32-bit quantized dtype (biases and accumulators): ``real = scale * int32``."""
    return create_quantized_dtype(_builtin_quant_dtypes["qint32"], scale, None)


def quint4(scale: float, zero_point: int) -> np.dtype:
    """Unsigned 4-bit quantized dtype (stored in uint8): ``real = scale * (q - zero_point)``."""
    return create_quantized_dtype(_builtin_quant_dtypes["quint4"], scale, zero_point)


def qint4(scale: float) -> np.dtype:
    """Signed 4-bit quantized dtype (stored in int8): ``real = scale * q``."""
    return create_quantized_dtype(_builtin_quant_dtypes["qint4"], scale, None)


def qint1(scale: float) -> np.dtype:
    """1-bit quantized dtype (stored in int8, values 0 and 1): ``real = scale * q``."""
    return create_quantized_dtype(_builtin_quant_dtypes["qint1"], scale, None)


def _quant_info(dtype: Any) -> dict[str, Any] | None:
    metadata = getattr(dtype, "metadata", None)
    return None if not metadata else metadata.get("mgb_dtype")


def is_quantize(dtype: Any) -> bool:
    """True for a quantized dtype (one carrying MegEngine's ``mgb_dtype`` metadata)."""
    info = _quant_info(dtype)
    return info is not None and info.get("name", "").startswith("Quantized")


def _require_quantized(dtype: Any, what: str) -> dict[str, Any]:
    if not is_quantize(dtype):
        raise ValueError(f"{what}: {dtype!r} is not a quantized dtype")
    return _quant_info(dtype)


def get_scale(dtype: Any) -> float:
    """The scale of a quantized dtype.

    Raises:
        ValueError: for a dtype that is not quantized.
    """
    return float(_require_quantized(dtype, "get_scale")["scale"])


def get_zero_point(dtype: Any) -> int:
    """The zero point of an asymmetric (unsigned) quantized dtype.

    Raises:
        ValueError: for a dtype that is not quantized or has no zero point.
    """
    info = _require_quantized(dtype, "get_zero_point")
    if "zero_point" not in info:
        raise ValueError(f"get_zero_point: {info['name']} has no zero point (it is symmetric)")
    return int(info["zero_point"])


def code_zero_point(dtype: Any) -> int:
    """The integer code of real 0 in a quantized dtype: its zero point, 0 for a symmetric
    one (where :func:`get_zero_point` raises).

    >>> code_zero_point(quint8(0.1, 128)), code_zero_point(qint8(0.1))
    (128, 0)

    Raises:
        ValueError: for a dtype that is not quantized.
    """
    return int(_require_quantized(dtype, "code_zero_point").get("zero_point") or 0)


def quantized_cname(dtype: Any) -> str:
    """MegEngine's C++ name of a quantized dtype (``"QuantizedS8"``)."""
    return str(_require_quantized(dtype, "quantized_cname")["name"])


def quantized_range(dtype: Any) -> tuple[int, int]:
    """The integer range a conversion to this quantized dtype saturates to."""
    return _CNAME_RANGE[quantized_cname(dtype)]


def dtype_name(dtype: Any) -> str:
    """A dtype's name for messages; quantized ones with their parameters.

    Example:
        >>> dtype_name(quint8(0.5, 3)), dtype_name(np.float32)
        ('Quantized8Asymm(scale=0.5, zero_point=3)', 'float32')
    """
    info = _quant_info(dtype) if is_quantize(dtype) else None
    if info is None:
        return str(np.dtype(dtype))
    zp = f", zero_point={info['zero_point']}" if "zero_point" in info else ""
    return f"{info['name']}(scale={info['scale']:g}{zp})"


def is_dtype_equal(a: Any, b: Any) -> bool:
    """Dtype equality that, unlike numpy's, also compares quantization parameters.

    Example:
        >>> is_dtype_equal(qint8(0.1), qint8(0.1)), is_dtype_equal(qint8(0.1), np.int8)
        (True, False)
    """
    a, b = np.dtype(a), np.dtype(b)
    if a != b or is_quantize(a) != is_quantize(b):
        return False
    if not is_quantize(a):
        return True
    qa, qb = _quant_info(a), _quant_info(b)
    return (
        qa["name"] == qb["name"]
        and np.float32(qa["scale"]) == np.float32(qb["scale"])
        and qa.get("zero_point") == qb.get("zero_point")
    )


def quantize_array(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``arr`` (reals) in the quantized ``dtype``: ``clip(round(x / scale) + zp)``.

    float32 arithmetic with rounding half away from zero, as MegEngine's TypeCvt.
    """
    info = _require_quantized(dtype, "quantize_array")
    qmin, qmax = quantized_range(dtype)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        x = round_half_away(np.asarray(arr, dtype=np.float32) / np.float32(info["scale"]))
        x = np.clip(x + np.float32(info.get("zero_point", 0)), qmin, qmax)
    return np.nan_to_num(x, nan=0.0).astype(dtype)


def codes_as_quantized(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``arr`` taken as the integer codes of the quantized ``dtype``, as MegEngine's
    ``Tensor(arr, dtype=qint8(s))`` takes it: the values are cast to the storage type
    (C's cast: fractions truncated), never quantized (``Tensor.astype`` quantizes).

    Raises:
        RuntimeError: ``arr`` already has the storage type (``int8`` for ``qint8``) or is
            quantized with other parameters: MegEngine 1.13 refuses both (its borrowed
            array's dtype is not the requested one); view the codes as ``dtype`` instead.

    Example:
        >>> codes_as_quantized(np.array([0.7, -1.3, 60.0]), qint8(0.5)).tolist()
        [0, -1, 60]
    """
    _require_quantized(dtype, "codes_as_quantized")
    if arr.dtype == dtype and not is_dtype_equal(arr.dtype, dtype):
        raise RuntimeError(
            f"can not make a {dtype_name(dtype)} tensor of a {dtype_name(arr.dtype)} array: "
            "MegEngine refuses an array of the storage type; view the codes as the "
            "quantized dtype (arr.view(dtype)) or quantize floats with Tensor.astype")
    with np.errstate(invalid="ignore"):
        return np.ascontiguousarray(arr.astype(dtype, casting="unsafe"))


def round_half_away(x: np.ndarray) -> np.ndarray:
    """C's ``roundf``: to the nearest integer, ties away from zero, exactly (adding 0.5
    would round ``0.49999997`` up).

    Example:
        >>> round_half_away(np.array([0.5, -2.5, 0.49999997], np.float32)).tolist()
        [1.0, -3.0, 0.0]
    """
    t = np.trunc(x)
    return t + np.copysign((np.abs(x - t) >= 0.5).astype(x.dtype), x)


def dtype_spec(dtype: Any) -> str:
    """A dtype as a string that :func:`canonical_dtype` reads back exactly: the numpy name,
    or for a quantized dtype its MegEngine name with the exact parameters (how ops such
    as ``TypeCvt`` hold a quantized target in their ``dtype`` param).

    Example:
        >>> dtype_spec(qint8(0.5)), canonical_dtype(dtype_spec(quint8(0.25, 3))).metadata
        ('QuantizedS8(scale=0.5)', mappingproxy({'mgb_dtype': {'name': 'Quantized8Asymm', \
'scale': 0.25, 'zero_point': 3}}))
    """
    info = _quant_info(dtype) if is_quantize(dtype) else None
    if info is None:
        return np.dtype(dtype).name
    zp = f", zero_point={int(info['zero_point'])}" if "zero_point" in info else ""
    return f"{info['name']}(scale={float(info['scale'])!r}{zp})"


_SPEC = re.compile(r"(Quantized\w+)\(scale=([^,)]+)(?:, zero_point=(-?\d+))?\)")
#: the dtype family of each C++ quantized name a spec may hold
_BY_CNAME = {m.cname: m for m in reversed(list(_builtin_quant_dtypes.values())) if m.cname}


def _from_spec(spec: str) -> np.dtype | None:
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        return None
    meta = _BY_CNAME.get(match.group(1))
    if meta is None:
        raise TypeError(f"unsupported quantized dtype {spec!r}")
    zp = None if match.group(3) is None else int(match.group(3))
    try:
        return create_quantized_dtype(meta, float(match.group(2)), zp)
    except ValueError as exc:
        raise TypeError(f"bad quantized dtype {spec!r}: {exc}") from None


def dtype_key(dtype: Any) -> str:
    """A hashable key telling dtypes apart including quantization parameters (numpy's
    ``==`` ignores them)."""
    return dtype_spec(dtype)


def dequantize_array(arr: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    """The float32 reals of quantized ``arr``: ``(q - zp) * scale`` (dtype from ``arr``)."""
    info = _require_quantized(arr.dtype if dtype is None else dtype, "dequantize_array")
    q = np.asarray(arr).astype(np.int64) - info.get("zero_point", 0)
    return q.astype(np.float32) * np.float32(info["scale"])
