"""``TensorBatchCollector``: gather single-batch items into one batch tensor.

Example:
    >>> collector = TensorBatchCollector([4, 8, 8], dtype=LiteDataType.LITE_INT,
    ...                                  device_type=LiteDeviceType.LITE_CPU)
    >>> arr = np.ones([8, 8], "int32")
    >>> for i in range(4):
    ...     _ = collector.collect(arr * i)
    >>> collector.to_numpy()[:, 0, 0].tolist()
    [0, 1, 2, 3]
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence

import numpy as np

from .struct import LiteDataType, LiteDeviceType, LiteValueError
from .tensor import Address, LiteLayout, LiteTensor, address_of, lite_data_type


class TensorBatchCollector:
    """Collects items of shape ``shape[1:]`` into a tensor of ``shape`` (batch first).

    Items (numpy arrays, ``LiteTensor`` or raw memory) go to the first free batch index
    (``collect``) or a given one (``collect_id``); ``free`` releases indexes. Thread
    safe: several threads may collect into one collector.

    Args:
        shape: the batch tensor's shape.
        dtype: its ``LiteDataType`` (default ``LITE_INT8``, as MegEngine).
        device_type, device_id, is_pinned_host: where the batch tensor lives.
        tensor: collect into this tensor instead (its layout gives shape and dtype).
    """

    def __init__(self, shape: Sequence[int], dtype: LiteDataType = LiteDataType.LITE_INT8,
                 device_type: LiteDeviceType = LiteDeviceType.LITE_CUDA, device_id: int = 0,
                 is_pinned_host: bool = False, tensor: LiteTensor | None = None) -> None:
        self._mutex = threading.Lock()
        self.shape = [int(d) for d in shape]
        if tensor is not None:
            if tensor.layout.shapes != self.shape:
                raise LiteValueError(f"The tensor set to TensorBatchCollector is not right: "
                                     f"its shape {tensor.layout.shapes} is not {self.shape}")
            self._tensor = tensor
        else:
            self._tensor = LiteTensor(LiteLayout(self.shape, dtype), device_type, device_id,
                                      is_pinned_host)
        self.dtype = self._tensor.layout.data_type
        self.device_type = self._tensor.device_type
        self.device_id = self._tensor.device_id
        self._free_list = list(range(self.shape[0]))

    def _item(self, array: np.ndarray | LiteTensor) -> np.ndarray:
        data = array.to_numpy() if isinstance(array, LiteTensor) else array
        if not isinstance(data, np.ndarray):
            raise LiteValueError(f"collect takes a numpy array or a LiteTensor, got "
                                 f"{type(array).__name__}")
        if list(data.shape) != self.shape[1:]:
            raise LiteValueError(f"a batch item has shape {list(data.shape)}, the collector "
                                 f"takes {self.shape[1:]}")
        if lite_data_type(data.dtype) != self.dtype:
            raise LiteValueError(f"a batch item has dtype {data.dtype}, the collector takes "
                                 f"{LiteDataType(self.dtype).name}")
        return data

    def _write(self, data: np.ndarray, batch_id: int) -> int:
        self._tensor._array()[batch_id] = data
        return batch_id

    def collect_id(self, array: np.ndarray | LiteTensor, batch_id: int) -> int:
        """Store ``array`` at ``batch_id`` (a warning if that index is already taken)."""
        data = self._item(array)
        with self._mutex:
            if batch_id in self._free_list:
                self._free_list.remove(batch_id)
            else:
                warnings.warn(f"batch {batch_id} has been collected, please call free before "
                              "collected it again.", stacklevel=2)
            return self._write(data, batch_id)

    def collect(self, array: np.ndarray | LiteTensor) -> int:
        """Store ``array`` at the first free index; that index, or -1 (and a warning)
        when every index is taken."""
        data = self._item(array)
        with self._mutex:
            if not self._free_list:
                warnings.warn("all batch has been collected, please call free before "
                              "collect again.", stacklevel=2)
                return -1
            return self._write(data, self._free_list.pop(0))

    def collect_by_ctypes(self, data: Address, length: int) -> int:
        """Store ``length`` bytes at address ``data`` at the first free index (-1 if none)."""
        address = address_of(data)
        if address is None:
            raise LiteValueError(f"collect_by_ctypes takes a memory address, got "
                                 f"{type(data).__name__}")
        item = LiteTensor(LiteLayout(self.shape[1:], self.dtype))
        item.set_data_by_share(address, length)
        with self._mutex:
            if not self._free_list:
                return -1
            return self._write(item._array(), self._free_list.pop(0))

    def free(self, indexes: Sequence[int]) -> None:
        """Release batch ``indexes`` for collecting again."""
        with self._mutex:
            for i in indexes:
                if i in self._free_list:
                    warnings.warn(f"batch id {i} has not collected before free it.",
                                  stacklevel=2)
                    self._free_list.remove(i)
            self._free_list.extend(indexes)

    def get_tensor_at(self, idx: int) -> LiteTensor:
        """Batch item ``idx`` as a tensor of batch 1 (shares the batch tensor's memory)."""
        if not 0 <= idx < self.shape[0]:
            raise LiteValueError(f"the idx specific the tensor is out of range: {idx} not in "
                                 f"[0, {self.shape[0]})")
        if idx in self._free_list:
            warnings.warn(f"tensor with batch id {idx} has not collected before get it.",
                          stacklevel=2)
        return self._tensor.slice([idx], [idx + 1])

    def get(self) -> LiteTensor:
        """The batch tensor."""
        return self._tensor

    def to_numpy(self) -> np.ndarray:
        """A copy of the batch tensor's data."""
        return self._tensor.to_numpy()


__all__ = ["TensorBatchCollector"]
