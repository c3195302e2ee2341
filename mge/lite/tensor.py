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

import contextlib
import ctypes
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
#: ``hook(tensor, writing)``: a network's guard, told before its IO tensor is read or written
#: (writes also hold the tensor's ``_lock``, the network's, so they wait for a running forward)
AccessHook = Callable[["LiteTensor", bool], None]
#: a raw memory address, as an int or a ctypes pointer
Address = int | ctypes.c_void_p


class LiteContiguityError(LiteValueError, AssertionError):
    """Data that is not C-contiguous (MegEngine's Lite raises ``AssertionError``)."""


def address_of(data: Any) -> int | None:
    """The address in ``data`` if it is a raw pointer (int, ``c_void_p``, ctypes
    pointer or array), else None."""
    if isinstance(data, bool):
        return None
    if isinstance(data, int):
        return data
    if isinstance(data, ctypes.c_void_p):
        return data.value or 0
    if isinstance(data, (ctypes._Pointer, ctypes.Array)):
        return ctypes.cast(data, ctypes.c_void_p).value or 0
    return None


def array_at(address: int, nbytes: int, shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """A numpy view of ``nbytes`` at ``address`` as ``shape``/``dtype`` (no copy; the
    caller keeps the memory alive)."""
    if not address:
        raise LiteValueError("a null pointer was given as tensor memory")
    if nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise LiteValueError(f"the data length is not match: {nbytes} bytes for a tensor of "
                             f"shape {list(shape)} and dtype {dtype}")
    raw = (ctypes.c_uint8 * nbytes).from_address(address)
    return np.frombuffer(raw, np.uint8).view(dtype).reshape(shape)


def _require_contiguous(data: np.ndarray, what: str) -> None:
    if not data.flags["C_CONTIGUOUS"]:
        raise LiteContiguityError(
            f"input numpy is not continuous: {what} needs a C-contiguous array, got one with "
            f"shape {data.shape} and strides {data.strides}; call "
            "np.ascontiguousarray(data) first")


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
        self._hook: AccessHook | None = None
        self._lock: contextlib.AbstractContextManager | None = None  # held while written

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
        """Size of the data in bytes (0 for an empty layout)."""
        if not self._layout.ndim:
            return 0
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
            shape = self._layout.shapes if self._layout.ndim else [0]
            self._data = np.zeros(shape, self._layout.np_dtype)
        return self._data

    def _touch(self, writing: bool) -> None:
        if self._hook is not None:
            self._hook(self, writing)

    def _set(self, array: np.ndarray) -> None:
        data = self._data  # when set, the layout is its shape and dtype: kept if they hold
        if data is None or data.shape != array.shape or data.dtype != array.dtype or \
                self._layout.ndim != array.ndim:
            self._layout = LiteLayout(array.shape, lite_data_type(array.dtype))
        self._data = array

    def _store(self, array: np.ndarray) -> None:
        """Copy ``array`` into the tensor's memory (fresh memory if the size differs)."""
        current = self._data
        if current is None or current.nbytes != array.nbytes or not current.flags.writeable:
            self._set(np.array(array, order="C", copy=True))
            return
        if current.shape == array.shape and current.dtype == array.dtype and \
                current.flags.c_contiguous:
            current[...] = array  # the same array object: an engine bound to it sees it
            return
        if not current.flags["C_CONTIGUOUS"]:
            raise LiteContiguityError("set_data_by_copy can only apply in continue tensor "
                                      f"(this one views shape {list(current.shape)} with "
                                      f"strides {current.strides})")
        flat = current.reshape(-1).view(np.uint8)
        flat[...] = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        self._set(flat.view(array.dtype).reshape(array.shape))

    def set_data_by_share(self, data: np.ndarray | Address, length: int = 0,
                          layout: LiteLayout | None = None) -> None:
        """Use ``data`` as this tensor's memory, no copy: a C-contiguous numpy array (kept
        alive by the tensor; the layout becomes the array's), or a raw address of
        ``length`` bytes (the caller keeps that memory alive) read with the tensor's
        layout, or ``layout``.

        Raises:
            LiteContiguityError: ``data`` is not C-contiguous (an ``AssertionError`` too,
                as in MegEngine).
            LiteValueError: ``length`` does not match the layout's size.
            LiteTypeError: ``data`` is neither, or has a dtype the tensor cannot take.
        """
        with self._lock or contextlib.nullcontext():
            self._touch(True)
            self._share(data, length, layout)

    def _share(self, data: np.ndarray | Address, length: int,
               layout: LiteLayout | None) -> None:
        # an array, the usual case (every forward's new input), has no address to read
        address = None if type(data) is np.ndarray else address_of(data)
        if address is not None:
            if layout is not None:
                self.layout = layout
            nbytes = self.nbytes
            if length and length != nbytes:
                raise LiteValueError(f"the data length is not match: {length} bytes given, "
                                     f"the tensor's layout {self._layout.shapes} "
                                     f"({self._layout.np_dtype}) has {nbytes}")
            data = array_at(address, nbytes, self._layout.shapes, self._layout.np_dtype)
        elif not isinstance(data, np.ndarray):
            raise LiteTypeError(f"set_data_by_share takes a numpy array or a memory address, "
                                f"got {type(data).__name__}; use set_data_by_copy for lists")
        else:
            _require_contiguous(data, "set_data_by_share")
            if layout is not None:
                data = data.reshape(layout.shapes)
            elif self._same_memory(data):
                # as real Lite: memory of the layout's byte size keeps the layout (MegFlow
                # shares a (3, 224, 224) array with a (1, 3, 224, 224) input)
                data = data.reshape(self._layout.shapes)
            elif length and length != data.nbytes:
                raise LiteValueError(f"the data length is not match: {length} bytes given "
                                     f"with an array of {data.nbytes} bytes")
        if self._check is not None:  # a network's input: its dtype (a Lite one) or an error
            data = self._check(self, data, True)
        else:
            lite_data_type(data.dtype)
        self._set(data)

    def _same_memory(self, data: np.ndarray) -> bool:
        """``data`` has this tensor's dtype and byte size but another shape."""
        shapes = tuple(self._layout._shapes)
        return bool(shapes) and data.shape != shapes and data.dtype == self._layout.np_dtype \
            and data.nbytes == self.nbytes

    def set_data_by_copy(self, data: Any, data_length: int = 0,
                         layout: LiteLayout | None = None) -> None:
        """Copy ``data`` into this tensor's memory (arrays from ``get_data_by_share``
        see the new values; memory is replaced only when the size changes).

        ``data`` is a list (fills the current layout in order), a C-contiguous numpy
        array (the layout becomes its shape, and its dtype unless this is a network
        input, which converts it), or a raw address of ``data_length`` bytes read with
        the current layout (or ``layout``).

        Raises:
            LiteContiguityError: a non-contiguous array (an ``AssertionError`` too).
        """
        with self._lock or contextlib.nullcontext():
            self._touch(True)
            self._copy(data, data_length, layout)

    def _copy(self, data: Any, data_length: int, layout: LiteLayout | None) -> None:
        if layout is not None:
            self.layout = layout
        address = address_of(data)
        if isinstance(data, (list, tuple)):
            flat = np.asarray(data, self._layout.np_dtype).reshape(-1)
            target = self._array().reshape(-1)
            if flat.size > target.size:
                raise LiteValueError(f"{flat.size} values do not fit a tensor of shape "
                                     f"{self._layout.shapes}")
            target[:flat.size] = flat
            return
        if address is not None:
            if data_length != self.nbytes and layout is None:
                raise LiteValueError(f"when input data is a pointer, its length ({data_length} "
                                     f"bytes) must be the tensor's ({self.nbytes}) or a "
                                     "layout must be given")
            data = array_at(address, self.nbytes, self._layout.shapes, self._layout.np_dtype)
        elif not isinstance(data, np.ndarray):
            raise LiteTypeError(f"set_data_by_copy takes a numpy array, a list or a memory "
                                f"address, got {type(data).__name__}")
        _require_contiguous(data, "set_data_by_copy")
        if self._check is not None:
            data = self._check(self, data, False)
        lite_data_type(data.dtype)
        self._store(data)

    def get_data_by_share(self) -> np.ndarray:
        """The tensor's memory as a numpy array (no copy). For a network output, as in
        MegEngine Lite, it is valid until the next forward writes the output again: a
        forward of the same shapes may write into the same memory (use ``to_numpy`` for
        a copy to keep)."""
        hook = self._hook
        if hook is not None:
            hook(self, False)
        data = self._data
        return data if data is not None else self._array()

    def to_numpy(self) -> np.ndarray:
        """A copy of the data (an empty tensor gives shape ``(0,)``)."""
        self._touch(False)
        return np.array(self._array(), order="C")

    def copy_from(self, src_tensor: LiteTensor) -> None:
        """Copy ``src_tensor``'s data (and layout) into this tensor."""
        if not isinstance(src_tensor, LiteTensor):
            raise LiteTypeError(f"copy_from takes a LiteTensor, got {type(src_tensor).__name__}")
        src_tensor._touch(False)
        self.set_data_by_copy(np.ascontiguousarray(src_tensor._array()))

    def share_memory_with(self, src_tensor: LiteTensor) -> None:
        """Use ``src_tensor``'s memory (writes through either tensor are seen by both)."""
        if not isinstance(src_tensor, LiteTensor):
            raise LiteTypeError(
                f"share_memory_with takes a LiteTensor, got {type(src_tensor).__name__}")
        src_tensor._touch(False)
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

    def get_ctypes_memory(self) -> ctypes.c_void_p:
        """The address of the data (a ``c_void_p``, as in MegEngine)."""
        return ctypes.c_void_p(self._array().ctypes.data)

    @property
    def np_array_type(self) -> type:
        """The ctypes array type of the data (nested per dimension, as MegEngine's
        ``np.ctypeslib._ctype_ndarray`` of the layout): ``np.ctypeslib.as_array(
        t.np_array_type.from_address(t.get_ctypes_memory().value))`` views the data.

        Raises:
            LiteTypeError: the dtype is float16 (ctypes has no half type).
        """
        if self._layout.data_type == LiteDataType.LITE_HALF:
            raise LiteTypeError("np_array_type: ctypes has no float16 type (a LITE_HALF "
                                f"tensor of shape {self._layout.shapes})")
        array_type: type = np.ctypeslib.as_ctypes_type(self._layout.np_dtype)
        for dim in reversed(self._layout.shapes):
            array_type = array_type * dim
        return array_type

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
