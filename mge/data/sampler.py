"""Index samplers (MegEngine's ``megengine.data.sampler``): which samples form each batch."""

from __future__ import annotations

import collections.abc
import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import distributed as dist


class Sampler(ABC):
    """Base class of all samplers."""

    @abstractmethod
    def __init__(self) -> None: ...


def _check_indices(name: str, indices: Any) -> None:
    if indices is not None and not isinstance(indices, collections.abc.Sequence):
        raise ValueError(f"{name}: indices should be None or a sequence, but got {indices!r}")


class MapSampler(Sampler):
    """Sampler for a map-style dataset: yields lists of ``batch_size`` indices.

    Args:
        dataset: the dataset to sample from (only ``len(dataset)`` is used).
        batch_size: indices per batch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        num_samples: samples per rank (default: ``len(dataset)``).
        world_size: number of ranks (default: ``mge.distributed.get_world_size()``).
        rank: this rank, in ``[0, world_size)`` (default: ``mge.distributed.get_rank()``).
        seed: seed of the sampler's own random state.

    Example:
        >>> list(SequentialSampler(range(5), batch_size=2))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        drop_last: bool = False,
        num_samples: int | None = None,
        world_size: int | None = None,
        rank: int | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(
                "num_samples should be a positive integer value, "
                f"but got num_samples={num_samples}"
            )
        self.batch_size = batch_size
        self.dataset = dataset
        self.drop_last = drop_last
        # defaults: the process group of mge.distributed (1 and 0 when not distributed)
        self.world_size = dist.get_world_size() if world_size is None else world_size
        self.rank = dist.get_rank() if rank is None else rank
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank should be in [0, {self.world_size}), but got rank={rank}")
        total = len(dataset) if num_samples is None else num_samples
        self.num_samples = math.ceil(total / self.world_size)
        if self.num_samples < self.batch_size:
            raise ValueError(
                "num_samples should be greater than batch_size, but got "
                f"num_samples={self.num_samples} and batch_size={self.batch_size}"
            )
        if seed is None and self.world_size > 1:
            seed = 0  # every rank must shuffle the same way
        self.rng = np.random.RandomState(seed)

    def __iter__(self) -> Iterator[list[Any]]:
        return self.batch()

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def sample(self) -> Sequence[Any] | Iterator[Any]:
        """All sample indices of one epoch, before splitting between ranks."""
        raise NotImplementedError

    def scatter(self, indices: list[Any]) -> list[Any]:
        """This rank's share of ``indices`` (padded by repetition to divide evenly)."""
        total = self.num_samples * self.world_size
        indices = indices + indices[: total - len(indices)]
        return indices[self.rank : total : self.world_size]

    def batch(self) -> Iterator[list[Any]]:
        """Yield the index batches of one epoch."""
        indices = list(self.sample())
        if self.world_size > 1:
            indices = self.scatter(indices)
        for start in range(0, len(indices), self.batch_size):
            chunk = indices[start : start + self.batch_size]
            if len(chunk) == self.batch_size or not self.drop_last:
                yield chunk


class StreamSampler(Sampler):
    """Sampler for a :class:`~.StreamDataset`: only fixes the batch size.

    Example:
        >>> next(iter(StreamSampler(batch_size=3)))
        [0, 1, 2]
    """

    def __init__(self, batch_size: int = 1) -> None:
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[list[int]]:
        return self.batch()

    def batch(self) -> Iterator[list[int]]:
        """Yield consecutive position batches forever."""
        counter = self.sample()
        while True:
            yield list(itertools.islice(counter, self.batch_size))

    def sample(self) -> Iterator[int]:
        return itertools.count(start=0)


class SequentialSampler(MapSampler):
    """Samples ``indices`` (default: every index of the dataset) in order.

    Example:
        >>> list(SequentialSampler(range(4), batch_size=2, indices=[3, 1, 2, 0]))
        [[3, 1], [2, 0]]
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        drop_last: bool = False,
        indices: Sequence[Any] | None = None,
        world_size: int | None = None,
        rank: int | None = None,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, None, world_size, rank)
        _check_indices("SequentialSampler", indices)
        self.indices = indices

    def sample(self) -> Sequence[Any] | Iterator[Any]:
        return iter(range(len(self.dataset))) if self.indices is None else self.indices


class RandomSampler(MapSampler):
    """Samples every index (or ``indices``) once, in a random order per epoch.

    Example:
        >>> sorted(sum(RandomSampler(range(5), batch_size=2, seed=0), []))
        [0, 1, 2, 3, 4]
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        drop_last: bool = False,
        indices: Sequence[Any] | None = None,
        world_size: int | None = None,
        rank: int | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, None, world_size, rank, seed)
        _check_indices("RandomSampler", indices)
        self.indices = indices

    def sample(self) -> list[Any]:
        if self.indices is None:
            return self.rng.permutation(len(self.dataset)).tolist()
        return self.rng.permutation(self.indices).tolist()


class ReplacementSampler(MapSampler):
    """Samples indices at random with replacement, optionally weighted.

    Example:
        >>> batches = list(ReplacementSampler(range(3), batch_size=2, num_samples=4, seed=0))
        >>> len(batches), all(0 <= i < 3 for b in batches for i in b)
        (2, True)
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        drop_last: bool = False,
        num_samples: int | None = None,
        weights: Sequence[float] | None = None,
        world_size: int | None = None,
        rank: int | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, num_samples, world_size, rank, seed)
        if weights is not None:
            if not isinstance(weights, collections.abc.Sequence):
                raise ValueError(f"weights should be None or a sequence, but got {weights!r}")
            if len(weights) != len(dataset):
                raise ValueError(
                    f"len(dataset)={len(dataset)} should be equal to len(weights)={len(weights)}"
                )
            self.weights: np.ndarray | None = np.asarray(weights, dtype=np.float64) / sum(weights)
        else:
            self.weights = None

    def sample(self) -> list[int]:
        size = self.num_samples * self.world_size
        return self.rng.choice(len(self.dataset), size=size, replace=True, p=self.weights).tolist()


class Infinite(MapSampler):
    """Wraps a sampler so that it restarts instead of ending (``len`` is int64 max).

    Example:
        >>> it = iter(Infinite(SequentialSampler(range(3), batch_size=2)))
        >>> [next(it) for _ in range(3)]
        [[0, 1], [2], [0, 1]]
    """

    def __init__(self, sampler: MapSampler) -> None:  # noqa: B027 - no MapSampler init
        self.sampler = sampler
        self.sampler_iter = iter(sampler)

    def sample(self) -> list[Any]:
        raise NotImplementedError("sample method not supported in Infinite")

    def __iter__(self) -> Infinite:  # type: ignore[override]
        return self

    def __next__(self) -> list[Any]:
        try:
            return next(self.sampler_iter)
        except StopIteration:
            self.sampler_iter = iter(self.sampler)
            return next(self.sampler_iter)

    def __len__(self) -> int:
        return int(np.iinfo(np.int64).max)

    def __getattr__(self, name: str) -> Any:
        # attributes Infinite lacks (batch_size, dataset, ...) are the wrapped sampler's
        if name == "sampler":
            raise AttributeError(name)
        return getattr(self.sampler, name)
