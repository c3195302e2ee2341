"""Dataset base classes (MegEngine's ``megengine.data.dataset.meta_dataset``)."""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any


class Dataset(ABC):
    """A map-style dataset: ``dataset[i]`` is one sample, ``len(dataset)`` their number.

    Example:
        >>> class Squares(Dataset):
        ...     def __init__(self):
        ...         pass
        ...     def __getitem__(self, index):
        ...         return index * index
        ...     def __len__(self):
        ...         return 4
        >>> Squares()[3], len(Squares())
        (9, 4)
    """

    @abstractmethod
    def __init__(self) -> None: ...

    @abstractmethod
    def __getitem__(self, index: Any) -> Any: ...

    @abstractmethod
    def __len__(self) -> int: ...


class StreamDataset(Dataset):
    """A dataset read as a stream: subclasses implement ``__iter__``, not indexing.

    In DataLoader worker processes with ``parallel_stream=True``,
    :func:`~.dataloader.get_worker_info` tells each worker which share to read.

    Example:
        >>> class Counting(StreamDataset):
        ...     def __init__(self):
        ...         pass
        ...     def __iter__(self):
        ...         yield from range(3)
        >>> [x for x in Counting()]
        [0, 1, 2]
    """

    @abstractmethod
    def __init__(self) -> None: ...

    @abstractmethod
    def __iter__(self) -> Iterator[Any]: ...

    def __getitem__(self, index: Any) -> Any:
        raise AssertionError("can not get item from StreamDataset by index")

    def __len__(self) -> int:
        raise AssertionError("StreamDataset does not have length")


class ArraySamples:
    """Samples are the rows of ``self.arrays`` (arrays of equal length): a mixin for
    datasets held in memory."""

    arrays: Sequence[Any]

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(array[index] for array in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])


class ArrayDataset(ArraySamples, Dataset):
    """Samples are the rows of one or more arrays of equal length.

    Example:
        >>> import numpy as np
        >>> ds = ArrayDataset(np.zeros((3, 2)), np.arange(3))
        >>> len(ds), int(ds[2][1])
        (3, 2)
    """

    def __init__(self, *arrays: Sequence[Any]) -> None:
        super().__init__()
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        lengths = [len(array) for array in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"lengths of input arrays are inconsistent: {lengths}")
        self.arrays = arrays


class ConcatDataset(Dataset):
    """The samples of several map-style datasets, one after the other.

    Example:
        >>> import numpy as np
        >>> ds = ConcatDataset([ArrayDataset(np.arange(2)), ArrayDataset(np.arange(3))])
        >>> len(ds), int(ds[3][0])
        (5, 1)
    """

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        super().__init__()
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        for dataset in self.datasets:
            if isinstance(dataset, StreamDataset):
                raise AssertionError("ConcatDataset does not support StreamDataset")
        self.cumulative_sizes: list[int] = []
        total = 0
        for dataset in self.datasets:
            total += len(dataset)
            self.cumulative_sizes.append(total)

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        if which >= len(self.datasets):
            raise IndexError(f"index {idx} out of range for ConcatDataset of length {len(self)}")
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]
