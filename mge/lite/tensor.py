"""``LiteLayout`` and ``LiteTensor``: megenginelite's tensors, over numpy arrays.

A ``LiteTensor`` holds a C-contiguous numpy array in host memory (allocated on first
use). ``set_data_by_share`` keeps a reference to the caller's array and computes on it
with no copy (it stays alive as long as the tensor uses it); ``set_data_by_copy`` copies.
A network's IO tensors check what they are given: an input takes its own dtype only
(``set_data_by_copy`` also converts other widths of the same kind, e.g. float64 to float32).

Example:
    >>> t = LiteTensor(LiteLayout([2, 3], LiteDataType.LITE_FLOAT))
    >>> t.set_data_by_copy([1, 2, 3, 4, 5, 6])
    >>> t.to_numpy().sum(), t.nbytes
    (np.float32(21.0), 24)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .struct import LiteDataType, LiteDeviceType, LiteTypeError, LiteValueError

MAX_DIM = 7
_TO_NUMPY = {
    LiteDataType.LITE_FLOAT: np.dtype("float32"), LiteDataType.LITE_HALF: np.dtype("float16"),
    LiteDataType.LITE_INT: np.dtype("int32"), LiteDataType.LITE_INT16: np.dtype("int16"),
    LiteDataType.LITE_INT8: np.dtype("int8"), LiteDataType.LITE_UINT8: np.dtype("uint8"),
    LiteDataType.LITE_UINT16: np.dtype("uint16"),
}
_FROM_NUMPY = {v: k for k, v in _TO_NUMPY.items()}


def lite_data_type(dtype: Any) -> LiteDataType:
    """The ``LiteDataType`` for a ``LiteDataType``, numpy dtype, dtype name or type."""
    if isinstance(dtype, LiteDataType):
        return dtype
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        np_dtype = None
    if np_dtype not in _FROM_NUMPY:
        supported = ", ".join(str(d) for d in _FROM_NUMPY)
        what = np_dtype.name if np_dtype is not None else repr(dtype)
        raise LiteTypeError(f"Lite tensors cannot hold {what}; supported: {supported}")
    return _FROM_NUMPY[np_dtype]


def lite_dtype_2_numpy(dtype: LiteDataType) -> type:
    """The numpy scalar type of a ``LiteDataType``."""
    return _TO_NUMPY[LiteDataType(dtype)].type


class LiteLayout:
    """A tensor's shape (at most 7 dims) and ``LiteDataType``.

    Example:
        >>> layout = LiteLayout([1, 4, 8, 8], LiteDataType.LITE_FLOAT)
        >>> layout.shapes, layout.ndim, layout.dtype
        ([1, 4, 8, 8], 4, <class 'numpy.float32'>)
    """

    def __init__(self, shape: Sequence[int] | None = None, dtype: Any = None) -> None:
        self.shapes = list(shape) if shape else []
        self.data_type = LiteDataType.LITE_FLOAT if dtype is None else lite_data_type(dtype)

    @property
    def shapes(self) -> list[int]:
        return list(self._shapes)

    @shapes.setter
    def shapes(self, shape: Sequence[int]) -> None:
        shape = [int(d) for d in shape]
        if len(shape) > MAX_DIM:
            raise LiteValueError(f"Layout max dim is {MAX_DIM}, got shape {shape}")
        self._shapes = shape

    @property
    def ndim(self) -> int:
        return len(self._shapes)

    @property
    def dtype(self) -> type:
        """The numpy scalar type (``np.float32``...)."""
        return lite_dtype_2_numpy(self.data_type)

    @property
    def np_dtype(self) -> np.dtype:
        return _TO_NUMPY[self.data_type]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LiteLayout) and (self.shapes, self.data_type) == \
            (other.shapes, other.data_type)

    def __repr__(self) -> str:
        return repr({"shapes": self.shapes, "ndim": self.ndim, "data_type": self.dtype})


#: ``check(tensor, array, share) -> array``: validates/converts data given to an IO tensor
DataCheck = Callable[["LiteTensor", np.ndarray, bool], np.ndarray]


class LiteTensor:
    """A block of data with its layout and device (the data lives in host memory).

    Args:
        layout: the layout (or give ``shapes`` and ``dtype``).
        device_type, device_id, is_pinned_host: recorded, as in MegEngine.
        physic_construct: accepted for compatibility (memory is allocated on first use).
    """

    def __init__(self, layout: LiteLayout | None = None,
                 device_type: LiteDeviceType = LiteDeviceType.LITE_CPU, device_id: int = 0,
                 is_pinned_host: bool = False, shapes: Sequence[int] | None = None,
                 dtype: Any = None, physic_construct: bool = True) -> None:
        if layout is None:
            layout = LiteLayout(shapes, dtype)
        self._layout = LiteLayout(layout.shapes, layout.data_type)
        self._device_type = LiteDeviceType(device_type)
        self._device_id = int(device_id)
        self._is_pinned_host = bool(is_pinned_host)
        self._data: np.ndarray | None = None
        self._check: DataCheck | None = None

    # ------------------------------------------------------------ properties
    @property
    def layout(self) -> LiteLayout:
        return LiteLayout(self._layout.shapes, self._layout.data_type)

    @layout.setter
    def layout(self, layout: LiteLayout | Sequence[int]) -> None:
        new = layout if isinstance(layout, LiteLayout) else LiteLayout(layout,
                                                                       self._layout.data_type)
        if new != self._layout:
            self._layout = LiteLayout(new.shapes, new.data_type)
            self._data = None

    @property
    def nbytes(self) -> int:
        """Size of the data in bytes."""
        return int(np.prod(self._layout.shapes, dtype=np.int64)) * self._layout.np_dtype.itemsize

    @property
    def device_type(self) -> LiteDeviceType:
        return self._device_type

    @property
    def device_id(self) -> int:
        return self._device_id

    @property
    def is_pinned_host(self) -> bool:
        return self._is_pinned_host

    @property
    def is_continue(self) -> bool:
        """Whether the memory is contiguous (false only for slices)."""
        return self._data is None or bool(self._data.flags["C_CONTIGUOUS"])

    def update(self) -> None:
        """Accepted for compatibility (the Python object is always current)."""

    # ------------------------------------------------------------ data
    def _array(self) -> np.ndarray:
        if self._data is None:
            self._data = np.zeros(self._layout.shapes, self._layout.np_dtype)
        return self._data

    def _set(self, array: np.ndarray) -> None:
        self._layout = LiteLayout(array.shape, lite_data_type(array.dtype))
        self._data = array

    def set_data_by_share(self, data: np.ndarray, length: int = 0,
                          layout: LiteLayout | None = None) -> None:
        """Use ``data`` (a C-contiguous numpy array) as this tensor's memory, no copy.

        The tensor keeps a reference, so ``data`` stays valid while it is used.

        Raises:
            LiteValueError: ``data`` is not C-contiguous.
            LiteTypeError: ``data`` is not a numpy array, or has a dtype the tensor
                cannot take.
        """
        if not isinstance(data, np.ndarray):
            raise LiteTypeError(f"set_data_by_share takes a numpy array, got "
                                f"{type(data).__name__}; use set_data_by_copy for lists")
        if not data.flags["C_CONTIGUOUS"]:
            raise LiteValueError(
                f"set_data_by_share needs a C-contiguous array, got one with shape "
                f"{data.shape} and strides {data.strides}; call "
                "np.ascontiguousarray(data) first (or use set_data_by_copy)")
        if layout is not None:
            data = data.reshape(layout.shapes)
        if self._check is not None:
            data = self._check(self, data, True)
        lite_data_type(data.dtype)
        self._set(data)

    def set_data_by_copy(self, data: Any, data_length: int = 0,
                         layout: LiteLayout | None = None) -> None:
        """Copy ``data`` (numpy array or list) into this tensor.

        A list fills the current layout in order; an array replaces the layout with its
        own shape (and dtype, unless this is a network input, which converts it).
        """
        if layout is not None:
            self.layout = layout
        if isinstance(data, (list, tuple)):
            flat = np.asarray(data, self._layout.np_dtype).reshape(-1)
            target = self._array().reshape(-1)
            if flat.size > target.size:
                raise LiteValueError(f"{flat.size} values do not fit a tensor of shape "
                                     f"{self._layout.shapes}")
            target[:flat.size] = flat
            return
        if not isinstance(data, np.ndarray):
            raise LiteTypeError(f"set_data_by_copy takes a numpy array or a list, got "
                                f"{type(data).__name__}")
        if self._check is not None:
            array = self._check(self, data, False)
            self._set(np.array(array, copy=True if array is data else None, order="C"))
            return
        lite_data_type(data.dtype)
        self._set(np.array(data, order="C"))

    def get_data_by_share(self) -> np.ndarray:
        """The tensor's memory as a numpy array (no copy; valid until it is replaced,
        e.g. by the next forward for an output)."""
        return self._array()

    def to_numpy(self) -> np.ndarray:
        """A copy of the data."""
        return np.array(self._array(), order="C")

    def copy_from(self, src_tensor: LiteTensor) -> None:
        """Copy ``src_tensor``'s data (and layout) into this tensor."""
        if not isinstance(src_tensor, LiteTensor):
            raise LiteTypeError(f"copy_from takes a LiteTensor, got {type(src_tensor).__name__}")
        self.set_data_by_copy(src_tensor._array())

    def share_memory_with(self, src_tensor: LiteTensor) -> None:
        """Use ``src_tensor``'s memory (writes through either tensor are seen by both)."""
        if not isinstance(src_tensor, LiteTensor):
            raise LiteTypeError(
                f"share_memory_with takes a LiteTensor, got {type(src_tensor).__name__}")
        self.set_data_by_share(src_tensor._array())

    def reshape(self, shape: Sequence[int]) -> None:
        """Change the shape, keeping the data (one entry may be -1)."""
        array = self._array()
        try:
            reshaped = array.reshape([int(d) for d in shape])
        except ValueError:
            raise LiteValueError(f"cannot reshape a tensor of shape {list(array.shape)} to "
                                 f"{list(shape)}") from None
        self._set(reshaped)

    def slice(self, start: Sequence[int], end: Sequence[int],
              step: Sequence[int] | None = None) -> LiteTensor:
        """A tensor viewing ``self[start:end:step]`` per dimension (shares memory)."""
        step = list(step) if step else [1] * len(start)
        if not len(start) == len(end) == len(step):
            raise LiteValueError("slice: start, end and step need one entry per dimension")
        view = self._array()[tuple(slice(a, b, s) for a, b, s in zip(start, end, step))]
        out = LiteTensor(LiteLayout(view.shape, self._layout.data_type), self._device_type,
                         self._device_id, self._is_pinned_host)
        out._data = view
        return out

    def fill_zero(self) -> None:
        """Set every element to zero."""
        self._array()[...] = 0

    def get_ctypes_memory(self) -> int:
        """The address of the data."""
        return self._array().ctypes.data

    def __repr__(self) -> str:
        return repr({"layout": self._layout, "device_type": self._device_type,
                     "device_id": self._device_id, "is_pinned_host": self._is_pinned_host})


def LiteTensorConcat(tensors: Sequence[LiteTensor], dim: int,  # noqa: N802 - MegEngine name
                     device_type: LiteDeviceType = LiteDeviceType.LITE_DEVICE_DEFAULT,
                     device_id: int = -1) -> LiteTensor:
    """A new tensor: ``tensors`` concatenated along ``dim``."""
    data = np.concatenate([t._array() for t in tensors], axis=dim)
    kind = tensors[0].device_type if device_type == LiteDeviceType.LITE_DEVICE_DEFAULT \
        else device_type
    out = LiteTensor(LiteLayout(data.shape, data.dtype), kind, max(device_id, 0))
    out._data = data
    return out


__all__ = ["LiteLayout", "LiteTensor", "LiteTensorConcat", "lite_data_type",
           "lite_dtype_2_numpy"]
