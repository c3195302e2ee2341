"""LiteGlobal, the callback decorators and TensorBatchCollector."""

from __future__ import annotations

import ctypes
import os
import warnings

import numpy as np
import pytest

from mge.lite import (
    MAX_DIM,
    LiteDataType,
    LiteDeviceType,
    LiteError,
    LiteGlobal,
    LiteLayout,
    LiteTensor,
    LiteValueError,
    TensorBatchCollector,
    start_finish_callback,
    wrap_async_callback,
)


def test_lite_global_settings(tmp_path) -> None:  # noqa: ANN001
    assert LiteGlobal.get_device_count(LiteDeviceType.LITE_CPU) == os.cpu_count()
    assert LiteGlobal.get_device_count(LiteDeviceType.LITE_ATLAS) == 0
    assert LiteGlobal.get_device_count(LiteDeviceType.LITE_CUDA) >= 0
    LiteGlobal.try_coalesce_all_free_memory()
    with pytest.raises(LiteError, match="failed to open c opr lib"):
        LiteGlobal.set_loader_lib_path(str(tmp_path / "missing.so"))
    with pytest.raises(LiteError, match="TensorRT is disable"):
        LiteGlobal.set_tensorrt_cache(str(tmp_path / "trt"))
    with pytest.raises(LiteError, match="not implement"):
        LiteGlobal.lookup_physic_ptr(ctypes.c_void_p(1), LiteDeviceType.LITE_CPU)
    assert MAX_DIM == 7


def test_callback_decorators() -> None:
    calls = []
    done = wrap_async_callback(lambda: calls.append("done") or 0)
    seen = start_finish_callback(lambda ios: calls.append(len(ios)) or 0)
    assert wrap_async_callback(done) is done and start_finish_callback(seen) is seen
    assert done() == 0 and seen({}) == 0 and calls == ["done", 0]
    with pytest.raises(TypeError, match="must be callable"):
        wrap_async_callback(3)  # type: ignore[arg-type]


def test_batch_collector_collects_arrays_tensors_and_memory() -> None:
    collector = TensorBatchCollector([4, 6, 8], dtype=LiteDataType.LITE_INT,
                                     device_type=LiteDeviceType.LITE_CPU)
    item = np.ones([6, 8], "int32")
    assert collector.collect(item) == 0
    tensor = LiteTensor(LiteLayout([6, 8], LiteDataType.LITE_INT))
    tensor.set_data_by_share(item * 2)
    assert collector.collect(tensor) == 1
    raw = item * 3
    assert collector.collect_by_ctypes(raw.ctypes.data, raw.nbytes) == 2
    assert collector.collect_id(item * 4, 3) == 3
    data = collector.to_numpy()
    assert data.shape == (4, 6, 8) and data[:, 2, 5].tolist() == [1, 2, 3, 4]
    assert collector.get_tensor_at(2).to_numpy().shape == (1, 6, 8)
    assert collector.get_tensor_at(2).to_numpy()[0, 0, 0] == 3
    with pytest.warns(UserWarning, match="all batch has been collected"):
        assert collector.collect(item) == -1
    assert collector.collect_by_ctypes(raw.ctypes.data, raw.nbytes) == -1
    collector.free([1])
    assert collector.collect(item * 9) == 1 and collector.to_numpy()[1, 0, 0] == 9
    with pytest.warns(UserWarning, match="has been collected"):
        collector.collect_id(item, 0)
    with pytest.raises(LiteValueError, match="shape \\[6, 7\\]"):
        collector.collect(np.ones([6, 7], "int32"))
    with pytest.raises(LiteValueError, match="dtype float32"):
        collector.collect(np.ones([6, 8], "float32"))


def test_batch_collector_into_a_given_tensor() -> None:
    target = LiteTensor(LiteLayout([2, 3], LiteDataType.LITE_UINT8))
    collector = TensorBatchCollector([2, 3], tensor=target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        collector.collect(np.arange(3, dtype=np.uint8))
        collector.collect(np.arange(3, 6, dtype=np.uint8))
    assert collector.get() is target and target.to_numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(LiteValueError, match="not right"):
        TensorBatchCollector([3, 3], tensor=target)
