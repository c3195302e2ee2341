"""``DataLoader``: batches from a dataset, in this process or in worker processes.

Worker processes (``num_workers > 0``) each get their own task queue and share one result
queue; the main process keeps ``2 * num_workers`` batches in flight and yields them in
sampler order. A worker's exception comes back as a ``RuntimeError`` naming the worker
and the sample index; a worker that dies (a signal, out of memory) is noticed within half
a second. Workers are stopped when the epoch ends, when iteration fails, when the
iterator is dropped and at interpreter exit, so none outlives its loader.
"""

from __future__ import annotations

import collections.abc
import itertools
import multiprocessing
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..tensor import Tensor
from ._worker import (
    StreamEnd,
    WorkerFailure,
    get_worker_info,
    load_map_batch,
    load_stream_batch,
    worker_loop,
)
from .collator import Collator
from .dataset import Dataset, StreamDataset
from .sampler import MapSampler, Sampler, SequentialSampler, StreamSampler
from .transform import PseudoTransform, Transform

__all__ = ["DataLoader", "get_worker_info"]

_POLL_SECONDS = 0.2
_JOIN_SECONDS = 2.0


def _timeout_error(seconds: float) -> RuntimeError:
    return RuntimeError(f"dataloader timeout: no batch within timeout={seconds} s")


class DataLoader:
    """Iterate over a dataset in mini-batches.

    Args:
        dataset: a :class:`~.Dataset` (indexed by the sampler) or :class:`~.StreamDataset`.
        sampler: which indices form each batch (default: one sample at a time, in order;
            a :class:`~.StreamSampler` for stream datasets).
        transform: applied to every sample (default: none).
        collator: merges the transformed samples into a batch (default :class:`~.Collator`).
        num_workers: worker processes that load, transform and collate; ``0`` loads in
            this process.
        timeout: if positive, seconds to wait for one batch before ``RuntimeError``.
        preload: yield batches as :class:`~mge.Tensor`, the next one converted ahead.
        parallel_stream: stream datasets only: every worker reads its own stream
            (``get_worker_info()`` tells it which share) instead of the main process
            reading and the workers transforming.

    Example:
        >>> import numpy as np
        >>> from mge.data import DataLoader, SequentialSampler
        >>> from mge.data.dataset import ArrayDataset
        >>> ds = ArrayDataset(np.arange(10, dtype="float32"), np.arange(10))
        >>> loader = DataLoader(ds, sampler=SequentialSampler(ds, batch_size=4))
        >>> [batch[1].tolist() for batch in loader]
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    """

    def __init__(
        self,
        dataset: Dataset,
        sampler: Sampler | None = None,
        transform: Transform | None = None,
        collator: Collator | None = None,
        num_workers: int = 0,
        timeout: int = 0,
        preload: bool = False,
        parallel_stream: bool = False,
    ) -> None:
        if num_workers < 0:
            raise ValueError(f"num_workers should not be negative, but got {num_workers}")
        if timeout < 0:
            raise ValueError(f"timeout should not be negative, but got {timeout}")
        self.dataset = dataset
        self.num_workers = num_workers
        self.timeout = timeout
        self.preload = preload
        self.parallel_stream = parallel_stream
        if isinstance(dataset, StreamDataset):
            self.sampler: Any = sampler if sampler else StreamSampler(batch_size=1)
            if not isinstance(self.sampler, StreamSampler):
                raise AssertionError(
                    "types of dataset and sampler do not match: a StreamDataset needs a "
                    f"StreamSampler, got {type(self.sampler).__name__}"
                )
            self.datakind = "stream"
        else:
            if not isinstance(dataset, Dataset):
                raise AssertionError(f"Can not recognize this kind of dataset: {type(dataset)}")
            self.sampler = sampler if sampler else SequentialSampler(dataset, batch_size=1)
            if not isinstance(self.sampler, MapSampler):
                raise AssertionError(
                    "types of dataset and sampler do not match: a map-style Dataset needs a "
                    f"MapSampler, got {type(self.sampler).__name__}"
                )
            self.datakind = "map"
        self.transform = PseudoTransform() if transform is None else transform
        self.collator = Collator() if collator is None else collator

    def __iter__(self) -> Iterator[Any]:
        batches: Iterator[Any]
        if self.num_workers == 0:
            batches = _serial_map(self) if self.datakind == "map" else _serial_stream(self)
        else:
            batches = _ParallelBatches(self)
        return _preloaded(batches) if self.preload else batches

    def __len__(self) -> int:
        return len(self.sampler)


def _to_tensors(batch: Any) -> Any:
    if isinstance(batch, np.ndarray):
        return Tensor(batch)
    if isinstance(batch, collections.abc.Mapping):
        return {key: _to_tensors(value) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_to_tensors(value) for value in batch))
    if isinstance(batch, collections.abc.Sequence) and not isinstance(batch, (str, bytes)):
        return [_to_tensors(value) for value in batch]
    return batch


def _preloaded(batches: Iterator[Any]) -> Iterator[Any]:
    """Yield batches as Tensors, converting the next one before handing out the current."""
    ahead = [_to_tensors(batch) for batch in itertools.islice(batches, 1)]
    while ahead:
        current = ahead.pop()
        ahead = [_to_tensors(batch) for batch in itertools.islice(batches, 1)]
        yield current


def _serial_map(loader: DataLoader) -> Iterator[Any]:
    for indices in loader.sampler:
        yield load_map_batch(loader.dataset, indices, loader.transform, loader.collator)


class _StreamReader:
    """Raw samples of a stream; with a timeout, read by a daemon thread so that a stuck
    stream raises ``RuntimeError`` instead of blocking for ever."""

    _END = object()

    def __init__(self, dataset: StreamDataset, timeout: float) -> None:
        self.timeout = timeout
        self.position = 0
        self._ended = False
        self._iterator = iter(dataset)
        if timeout > 0:
            self._items: queue.Queue = queue.Queue(maxsize=1)
            threading.Thread(target=self._pump, daemon=True, name="stream-reader").start()

    def _pump(self) -> None:
        try:
            for item in self._iterator:
                self._items.put((True, item))
            self._items.put((True, self._END))
        except BaseException as error:  # handed to the reading thread
            self._items.put((False, error))

    def next(self) -> Any:
        """The next raw sample; ``StopIteration`` at the end of the stream."""
        if self._ended:
            raise StopIteration
        if self.timeout > 0:
            try:
                ok, item = self._items.get(timeout=self.timeout)
            except queue.Empty:
                raise _timeout_error(self.timeout) from None
            if not ok:
                raise item
            if item is self._END:
                self._ended = True
                raise StopIteration
        else:
            try:
                item = next(self._iterator)
            except StopIteration:
                self._ended = True
                raise
        self.position += 1
        return item

    def take(self, count: int) -> list[Any]:
        """Up to ``count`` raw samples (fewer at the end of the stream)."""
        samples = []
        for _ in range(count):
            try:
                samples.append(self.next())
            except StopIteration:
                break
        return samples


def _serial_stream(loader: DataLoader) -> Iterator[Any]:
    reader = _StreamReader(loader.dataset, loader.timeout)
    while True:
        first = reader.position
        samples = reader.take(loader.sampler.batch_size)
        if not samples:
            return
        yield load_stream_batch(samples, first, loader.transform, loader.collator)


def _stop_workers(workers: list, task_queues: list, result_queue: Any, done: Any) -> None:
    """Stop and reap every worker (idempotent; also run by a finalizer)."""
    done.set()
    for task_queue in task_queues:
        try:
            task_queue.put(None)
        except (OSError, ValueError):  # already closed
            pass
    deadline = time.monotonic() + _JOIN_SECONDS
    for worker in workers:
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
            worker.join()
    for task_queue in task_queues:
        task_queue.cancel_join_thread()
        task_queue.close()
    result_queue.cancel_join_thread()
    result_queue.close()


class _ParallelBatches:
    """Batches from worker processes, in sampler order."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        self.timeout = loader.timeout
        self.num_workers = loader.num_workers
        self.own_stream = loader.datakind == "stream" and loader.parallel_stream
        base_seed = int(np.random.randint(0, 2**31 - 1 - self.num_workers))
        context = multiprocessing.get_context()
        self._done = context.Event()
        self._results = context.Queue()
        self._task_queues = [context.Queue() for _ in range(self.num_workers)]
        self._workers = []
        for worker_id, task_queue in enumerate(self._task_queues):
            worker = context.Process(
                target=worker_loop,
                args=(loader.dataset, task_queue, self._results, self._done, loader.transform,
                      loader.collator, base_seed + worker_id, worker_id, self.num_workers,
                      self.own_stream),
                daemon=True,
                name=f"DataLoader worker {worker_id}",
            )
            worker.start()
            self._workers.append(worker)
        self._finalizer = weakref.finalize(
            self, _stop_workers, self._workers, self._task_queues, self._results, self._done
        )
        if loader.datakind == "map":
            self._index_batches: Iterator[Any] | None = iter(loader.sampler)
        else:
            self._index_batches = None
            self._stream = None if self.own_stream else _StreamReader(
                loader.dataset, loader.timeout
            )
        self._active = [True] * self.num_workers
        self._worker_cycle = itertools.cycle(range(self.num_workers))
        self._owner: dict[int, int] = {}  # task id -> worker id, for tasks in flight
        self._ready: dict[int, Any] = {}
        self._sent = 0
        self._next = 0
        try:
            for _ in range(2 * self.num_workers):
                self._send_task()
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> _ParallelBatches:
        return self

    def __len__(self) -> int:
        return len(self.loader)

    def _next_payload(self) -> Any:
        """The next task's payload, or ``None`` when there is nothing left to send."""
        if self._index_batches is not None:
            return next(self._index_batches, None)
        batch_size = self.loader.sampler.batch_size
        if self.own_stream:
            return batch_size
        first = self._stream.position
        samples = self._stream.take(batch_size)
        return (first, samples) if samples else None

    def _send_task(self) -> None:
        if not any(self._active):
            return
        payload = self._next_payload()
        if payload is None:
            return
        worker_id = next(self._worker_cycle)
        while not self._active[worker_id]:
            worker_id = next(self._worker_cycle)
        self._task_queues[worker_id].put((self._sent, payload))
        self._owner[self._sent] = worker_id
        self._sent += 1

    def __next__(self) -> Any:
        try:
            return self._next_batch()
        except BaseException:
            self.close()
            raise

    def _next_batch(self) -> Any:
        while True:
            if self._next >= self._sent:
                self.close()
                raise StopIteration
            if self._next not in self._ready:
                self._receive()
                continue
            task_id = self._next
            result = self._ready.pop(task_id)
            self._next += 1
            if isinstance(result, StreamEnd):
                self._active[result.worker_id] = False
                self._send_task()
                continue
            if isinstance(result, WorkerFailure):
                result.reraise()
            self._send_task()
            return result

    def _receive(self) -> None:
        """Wait for one result, watching worker liveness and the timeout."""
        started = time.monotonic()
        while True:
            try:
                task_id, result = self._results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                self._check_workers_alive()
                if self.timeout > 0 and time.monotonic() - started > self.timeout:
                    raise _timeout_error(self.timeout) from None
                continue
            self._owner.pop(task_id, None)
            self._ready[task_id] = result
            return

    def _check_workers_alive(self) -> None:
        dead = [(i, w) for i, w in enumerate(self._workers) if not w.is_alive()]
        if dead:
            raise RuntimeError(
                "DataLoader worker (worker(s): {}, pid(s): {}) exited unexpectedly, "
                "exitcode(s): {}".format(
                    ", ".join(str(i) for i, _ in dead),
                    ", ".join(str(w.pid) for _, w in dead),
                    ", ".join(str(w.exitcode) for _, w in dead),
                )
            )

    def close(self) -> None:
        """Stop the workers now (also done at the end of the epoch and on errors)."""
        self._finalizer()
