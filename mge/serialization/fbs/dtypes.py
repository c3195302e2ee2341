"""MegEngine data types as stored in model files (``DTypeEnum`` + quantization params).

A :class:`DType` is the file's view of a dtype: its MegEngine name plus, for quantized
types, the linear quantization parameters.  :attr:`DType.numpy` gives the numpy dtype of
the *storage* (quantized values are stored as their integer codes, ``BFloat16`` as raw
``uint16`` bits); low-bit types (1, 2 or 4 bits per element) are stored packed and have
no numpy equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ...dtype import _quant_info, is_quantize


class _Info(NamedTuple):
    storage: str | None  # numpy storage dtype; None for packed low-bit types
    bits: int
    quantized: str | None  # None, "symmetric" or "asymmetric"


#: DTypeEnum values in file order (the index is the value stored in the file)
DTYPE_NAMES: tuple[str, ...] = (
    "Float32", "Uint8", "Int8", "Int16", "Int32", "IntB1", "IntB2", "IntB4", "Byte",
    "Float16", "UintB4", "Quantized8Asymm", "QuantizedS32", "QuantizedS8",
    "Quantized4Asymm", "QuantizedS4", "QuantizedS16", "BFloat16", "Bool", "Uint16",
    "QuantizedS1", "Complex64",
)  # fmt: skip

_INFO: dict[str, _Info] = {
    "Float32": _Info("<f4", 32, None),
    "Uint8": _Info("u1", 8, None),
    "Int8": _Info("i1", 8, None),
    "Int16": _Info("<i2", 16, None),
    "Int32": _Info("<i4", 32, None),
    "IntB1": _Info(None, 1, None),
    "IntB2": _Info(None, 2, None),
    "IntB4": _Info(None, 4, None),
    "Byte": _Info("u1", 8, None),
    "Float16": _Info("<f2", 16, None),
    "UintB4": _Info(None, 4, None),
    "Quantized8Asymm": _Info("u1", 8, "asymmetric"),
    "QuantizedS32": _Info("<i4", 32, "symmetric"),
    "QuantizedS8": _Info("i1", 8, "symmetric"),
    "Quantized4Asymm": _Info(None, 4, "asymmetric"),
    "QuantizedS4": _Info(None, 4, "symmetric"),
    "QuantizedS16": _Info("<i2", 16, "symmetric"),
    "BFloat16": _Info("<u2", 16, None),
    "Bool": _Info("?", 8, None),
    "Uint16": _Info("<u2", 16, None),
    "QuantizedS1": _Info(None, 1, "symmetric"),
    "Complex64": _Info("<c8", 64, None),
}

#: plain numpy dtypes and the MegEngine dtype each one maps to
_FROM_NUMPY: dict[np.dtype, str] = {
    np.dtype(np.float32): "Float32",
    np.dtype(np.uint8): "Uint8",
    np.dtype(np.int8): "Int8",
    np.dtype(np.int16): "Int16",
    np.dtype(np.int32): "Int32",
    np.dtype(np.float16): "Float16",
    np.dtype(np.bool_): "Bool",
    np.dtype(np.uint16): "Uint16",
    np.dtype(np.complex64): "Complex64",
}


def _f32(x: float) -> float:
    """Round a Python float to the nearest float32, as the file stores it."""
    return float(np.float32(x))


@dataclass(frozen=True)
class DType:
    """A MegEngine dtype: ``name`` from :data:`DTYPE_NAMES`, quantization params if any.

    ``scale`` is set for every quantized type (rounded to float32 as stored);
    ``zero_point`` (0..255) only for the asymmetric ones (``Quantized8Asymm``,
    ``Quantized4Asymm``).
    """

    name: str
    scale: float | None = None
    zero_point: int | None = None

    def __post_init__(self) -> None:
        info = _INFO.get(self.name)
        if info is None:
            raise ValueError(f"unknown MegEngine dtype {self.name!r}")
        if info.quantized is None:
            if self.scale is not None or self.zero_point is not None:
                raise ValueError(f"dtype {self.name} takes no quantization params")
            return
        if self.scale is None:
            raise ValueError(f"quantized dtype {self.name} needs a scale")
        object.__setattr__(self, "scale", _f32(self.scale))
        if info.quantized == "asymmetric":
            zp = 0 if self.zero_point is None else int(self.zero_point)
            if not 0 <= zp <= 255:
                raise ValueError(f"zero_point {zp} of {self.name} is outside 0..255")
            object.__setattr__(self, "zero_point", zp)
        elif self.zero_point is not None:
            raise ValueError(f"symmetric dtype {self.name} takes no zero_point")

    @property
    def enum(self) -> int:
        """Value of this dtype in the file's ``DTypeEnum``."""
        return DTYPE_NAMES.index(self.name)

    @property
    def bits(self) -> int:
        """Bits per element."""
        return _INFO[self.name].bits

    @property
    def is_quantized(self) -> bool:
        return _INFO[self.name].quantized is not None

    @property
    def is_lowbit(self) -> bool:
        """True for packed types with fewer than 8 bits per element."""
        return _INFO[self.name].storage is None

    @property
    def numpy(self) -> np.dtype | None:
        """numpy dtype of the element storage, or None for packed low-bit types."""
        storage = _INFO[self.name].storage
        return None if storage is None else np.dtype(storage)

    def nbytes(self, nr_elems: int) -> int:
        """Bytes that ``nr_elems`` elements occupy in a contiguous tensor."""
        return (nr_elems * self.bits + 7) // 8

    @property
    def numpy_full(self) -> np.dtype | None:
        """The numpy dtype mge computes with: :attr:`numpy`, carrying scale and zero point
        for quantized types (``mge.dtype.qint8(scale)``...); None for packed types."""
        storage = self.numpy
        if storage is None or not self.is_quantized:
            return storage
        info: dict = {"name": self.name, "scale": self.scale}
        if is_asymmetric(self.name):
            info["zero_point"] = self.zero_point
        return np.dtype(storage.newbyteorder("="), metadata={"mgb_dtype": info})

    @classmethod
    def from_numpy(cls, dtype: np.dtype | type | str) -> DType:
        """MegEngine dtype of a numpy dtype (float32 -> Float32, ``qint8(s)`` ->
        QuantizedS8 with scale ``s``, ...)."""
        dt = np.dtype(dtype)
        if is_quantize(dt):
            info = _quant_info(dt)
            if info["name"] not in _INFO:
                raise ValueError(f"quantized dtype {info['name']} has no MegEngine equivalent")
            return cls(info["name"], info["scale"], info.get("zero_point"))
        name = _FROM_NUMPY.get(dt.newbyteorder("<") if dt.byteorder == ">" else dt)
        if name is None:
            raise ValueError(f"numpy dtype {dt} has no MegEngine equivalent")
        return cls(name)


def dtype_name(value: int) -> str | None:
    """Name of ``DTypeEnum`` value ``value``, or None if it is not a known dtype."""
    return DTYPE_NAMES[value] if 0 <= value < len(DTYPE_NAMES) else None


def is_asymmetric(name: str) -> bool:
    """True for the quantized types that carry a zero point."""
    return _INFO[name].quantized == "asymmetric"


def is_quantized_name(name: str) -> bool:
    """True if dtype ``name`` needs a quantization param."""
    return _INFO[name].quantized is not None
