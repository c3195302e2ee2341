"""LiteLayout and LiteTensor: layouts, sharing (kept alive), copying, reshaping, slicing."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from mge.lite import (
    LiteDataType,
    LiteDeviceType,
    LiteLayout,
    LiteTensor,
    LiteTensorConcat,
    LiteTypeError,
    LiteValueError,
    lite_dtype_2_numpy,
)


def test_layout() -> None:
    layout = LiteLayout([1, 4, 8, 8], LiteDataType.LITE_FLOAT)
    assert layout.shapes == [1, 4, 8, 8] and layout.ndim == 4 and layout.dtype is np.float32
    for dtype in ("float16", np.dtype("float16"), np.float16, LiteDataType.LITE_HALF):
        assert LiteLayout([2], dtype).data_type == LiteDataType.LITE_HALF
    assert LiteLayout().shapes == [] and LiteLayout().data_type == LiteDataType.LITE_FLOAT
    assert LiteLayout([2, 3], "int32") == LiteLayout([2, 3], LiteDataType.LITE_INT)
    with pytest.raises(LiteValueError, match="max dim is 7"):
        LiteLayout([1] * 8)
    with pytest.raises(LiteTypeError, match="cannot hold float64; supported: float32"):
        LiteLayout([2], np.float64)
    assert lite_dtype_2_numpy(LiteDataType.LITE_UINT16) is np.uint16


def test_share_keeps_the_array_alive() -> None:
    tensor = LiteTensor(LiteLayout([2, 3]))
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor.set_data_by_share(data)
    data[0, 0] = 42  # shared, not copied
    assert tensor.to_numpy()[0, 0] == 42
    assert tensor.get_data_by_share() is data
    del data
    gc.collect()
    assert tensor.to_numpy().tolist() == [[42, 1, 2], [3, 4, 5]]
    tensor.set_data_by_share(np.zeros(4, np.int8))
    assert tensor.layout == LiteLayout([4], LiteDataType.LITE_INT8) and tensor.nbytes == 4
    with pytest.raises(LiteTypeError, match="takes a numpy array or a memory address, got list"):
        tensor.set_data_by_share([1, 2])
    with pytest.raises(LiteValueError, match="C-contiguous"):
        tensor.set_data_by_share(np.zeros((4, 4), np.float32)[:, ::2])


def test_copy_and_to_numpy_are_copies() -> None:
    tensor = LiteTensor(shapes=[2, 2], dtype="int32")
    assert tensor.to_numpy().tolist() == [[0, 0], [0, 0]]  # allocated on first use
    tensor.set_data_by_copy([1, 2, 3])
    assert tensor.to_numpy().tolist() == [[1, 2], [3, 0]]
    with pytest.raises(LiteValueError, match="5 values do not fit a tensor of shape"):
        tensor.set_data_by_copy([1, 2, 3, 4, 5])
    data = np.ones((3,), np.float16)
    tensor.set_data_by_copy(data)
    data[0] = 7
    out = tensor.to_numpy()
    assert out.dtype == np.float16 and out.tolist() == [1, 1, 1]
    out[1] = 9
    assert tensor.to_numpy()[1] == 1
    with pytest.raises(LiteTypeError, match="cannot hold"):
        tensor.set_data_by_copy(np.zeros(2, np.float64))
    with pytest.raises(LiteTypeError, match="a numpy array, a list or a memory address"):
        tensor.set_data_by_copy("abc")


def test_reshape_slice_fill_share_copy_concat() -> None:
    a = LiteTensor(LiteLayout([2, 3], LiteDataType.LITE_FLOAT))
    a.set_data_by_copy(np.arange(6, dtype=np.float32).reshape(2, 3))
    a.reshape([3, -1])
    assert a.layout.shapes == [3, 2]
    with pytest.raises(LiteValueError, match="cannot reshape"):
        a.reshape([4, 2])
    part = a.slice([1, 0], [3, 2], [1, 2])
    assert part.layout.shapes == [2, 1] and part.to_numpy().ravel().tolist() == [2, 4]
    assert not part.is_continue and a.is_continue
    part.fill_zero()
    assert a.to_numpy().ravel().tolist() == [0, 1, 0, 3, 0, 5]  # a view into a
    b = LiteTensor(device_type=LiteDeviceType.LITE_CPU)
    b.share_memory_with(a)
    b.get_data_by_share()[0, 1] = 11
    assert a.to_numpy()[0, 1] == 11
    c = LiteTensor()
    c.copy_from(a)
    c.get_data_by_share()[0, 0] = -1
    assert a.to_numpy()[0, 0] == 0 and c.layout.shapes == [3, 2]
    both = LiteTensorConcat([a, c], 0)
    assert both.layout.shapes == [6, 2] and both.to_numpy()[3, 0] == -1
    with pytest.raises(LiteTypeError, match="copy_from takes a LiteTensor"):
        c.copy_from(np.zeros(2))
    assert "layout" in repr(a) and a.get_ctypes_memory().value == a.get_data_by_share().ctypes.data


def test_raw_memory_share_and_copy() -> None:
    tensor = LiteTensor(LiteLayout([4, 8], "int16"))
    arr = np.arange(32, dtype=np.int16).reshape(4, 8)
    tensor.set_data_by_share(arr.ctypes.data, arr.nbytes)
    arr[0, 0] = 77  # shared: no copy
    assert tensor.to_numpy()[0, 0] == 77 and tensor.to_numpy()[3, 7] == 31
    other = LiteTensor(LiteLayout([4, 8], "int16"))
    other.set_data_by_share(tensor.get_ctypes_memory(), tensor.nbytes)  # a c_void_p
    assert other.to_numpy()[0, 0] == 77
    copied = LiteTensor(LiteLayout([4, 8], "int16"))
    copied.set_data_by_copy(arr.ctypes.data, arr.nbytes)
    arr[0, 0] = 1
    assert copied.to_numpy()[0, 0] == 77
    with pytest.raises(LiteValueError, match="data length is not match"):
        tensor.set_data_by_share(arr.ctypes.data, 10)
    with pytest.raises(LiteValueError, match="null pointer"):
        tensor.set_data_by_share(0, 64)
    with pytest.raises(LiteValueError, match="must be the tensor's"):
        copied.set_data_by_copy(arr.ctypes.data, 3)


def test_non_contiguous_arrays_raise_megengines_error_type() -> None:
    arr = np.arange(6, dtype=np.int8).reshape(2, 3).T
    tensor = LiteTensor(LiteLayout([3, 2], "int8"))
    for method in (tensor.set_data_by_copy, tensor.set_data_by_share):
        with pytest.raises(AssertionError, match="not continuous"):
            method(arr)
        with pytest.raises(LiteValueError):
            method(arr)
    tensor.set_data_by_copy(np.ascontiguousarray(arr))
    assert tensor.to_numpy().tolist() == arr.tolist()


def test_set_data_by_copy_writes_into_existing_memory() -> None:
    tensor = LiteTensor(LiteLayout([2, 4], "int16"))
    tensor.set_data_by_copy(np.ones([2, 4], np.int16))
    view = tensor.get_data_by_share()
    tensor.set_data_by_copy(np.full([2, 4], 5, np.int16))
    assert view.tolist() == [[5] * 4] * 2  # the earlier view sees the copy
    tensor.set_data_by_copy(np.full([4, 2], 6, np.int16))  # same size, new shape: same memory
    assert view[0, 0] == 6 and tensor.layout.shapes == [4, 2]
    tensor.set_data_by_copy(np.zeros([3], np.int16))  # another size: new memory
    assert view[0, 0] == 6 and tensor.layout.shapes == [3]
    user = np.zeros([3], np.int16)
    tensor.set_data_by_share(user)
    tensor.set_data_by_copy(np.array([1, 2, 3], np.int16))
    assert user.tolist() == [1, 2, 3]  # as MegEngine: the copy lands in the shared memory


def test_empty_tensor() -> None:
    empty = LiteTensor()
    assert empty.nbytes == 0 and empty.layout.ndim == 0
    data = empty.to_numpy()
    assert data.shape == (0,) and data.dtype == np.float32
