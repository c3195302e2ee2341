"""What runs inside a DataLoader worker process: the loop, batch loading, error reports.

Messages between the main process and a worker:
  main -> worker (its own task queue): ``(task_id, payload)`` or ``None`` (stop). The
  payload is a list of sample indices (map datasets), a list of raw samples (a stream read
  by the main process) or a sample count (``parallel_stream``: the worker reads its own
  stream).
  worker -> main (one shared result queue): ``(task_id, batch)``, ``(task_id,
  WorkerFailure)`` or ``(task_id, StreamEnd(worker_id))``.
"""

from __future__ import annotations

import os
import queue
import random
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .collator import Collator
from .transform.meta_transform import Transform
from .transform.vision.base import Compose

_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class WorkerInfo:
    """Which worker this process is: ``idx`` of ``worker`` workers, seeded with ``seed``."""

    idx: int
    worker: int
    seed: int


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This DataLoader worker's :class:`WorkerInfo`; ``None`` in the main process.

    Example:
        >>> get_worker_info() is None
        True
    """
    return _worker_info


@dataclass(frozen=True)
class WorkerFailure:
    """An exception raised in a worker, carried to the main process as text."""

    exc_type: str
    where: str
    traceback: str

    def reraise(self) -> None:
        raise RuntimeError(f"Caught {self.exc_type} {self.where}.\nOriginal {self.traceback}")


@dataclass(frozen=True)
class StreamEnd:
    """A worker's own stream (``parallel_stream=True``) is exhausted."""

    worker_id: int


class SampleError(Exception):
    """Loading or transforming the sample(s) ``where`` failed (the cause is chained)."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


def _transforms_per_sample(transform: Transform) -> bool:
    """Whether ``transform.apply_batch`` is one ``apply`` per sample (so a failure has a
    sample index)."""
    if isinstance(transform, Compose):
        return not transform.batch_compose
    return type(transform).apply_batch is Transform.apply_batch


def transform_samples(transform: Transform, samples: Sequence[Any], names: Sequence[str]) -> list:
    """``transform.apply_batch(samples)``; a failure raises :class:`SampleError` naming
    the sample (``names[i]``) it failed on, or all of them for a whole-batch transform."""
    if not _transforms_per_sample(transform):
        try:
            return list(transform.apply_batch(samples))
        except Exception as error:
            raise SampleError(f"transforming the batch of samples {', '.join(names)}") from error
    transformed = []
    for name, sample in zip(names, samples):
        try:
            transformed.append(transform.apply(sample))
        except Exception as error:
            raise SampleError(f"transforming {name}") from error
    return transformed


def load_map_batch(
    dataset: Any, indices: Sequence[Any], transform: Transform, collator: Collator
) -> Any:
    """Read, transform and collate the samples ``indices`` of a map-style dataset."""
    samples = []
    for index in indices:
        try:
            samples.append(dataset[index])
        except Exception as error:
            raise SampleError(f"reading sample index {index}") from error
    names = [f"sample index {index}" for index in indices]
    return collator.apply(transform_samples(transform, samples, names))


def load_stream_batch(
    samples: Sequence[Any], first_position: int, transform: Transform, collator: Collator
) -> Any:
    """Transform and collate raw stream samples (``first_position``: the first one's place
    in the stream, for error messages)."""
    names = [f"stream sample {first_position + i}" for i in range(len(samples))]
    transformed = [None] * len(samples)
    for i, (name, sample) in enumerate(zip(names, samples)):
        try:
            transformed[i] = transform.apply(sample)
        except Exception as error:
            raise SampleError(f"transforming {name}") from error
    return collator.apply(transformed)


def _failure(error: BaseException, worker_id: int) -> WorkerFailure:
    cause = error.__cause__ if isinstance(error, SampleError) and error.__cause__ else error
    where = f"in DataLoader worker process {worker_id}"
    if isinstance(error, SampleError):
        where += f" while {error.where}"
    text = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    return WorkerFailure(type(cause).__name__, where, text)


def worker_loop(
    dataset: Any,
    task_queue: Any,
    result_queue: Any,
    done_event: Any,
    transform: Transform,
    collator: Collator,
    seed: int,
    worker_id: int,
    num_workers: int,
    own_stream: bool,
) -> None:
    """Serve tasks until told to stop, the loader shuts down or the main process dies."""
    global _worker_info
    _worker_info = WorkerInfo(idx=worker_id, worker=num_workers, seed=seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    parent = os.getppid()
    stream: Iterator[Any] | None = iter(dataset) if own_stream else None
    read = 0
    while True:
        try:
            task = task_queue.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            if os.getppid() != parent:  # the main process died: nobody will read results
                break
            continue
        if task is None or done_event.is_set():
            break
        task_id, payload = task
        try:
            if stream is not None:
                samples = []
                for _ in range(payload):
                    try:
                        samples.append(next(stream))
                    except StopIteration:
                        break
                if not samples:
                    result: Any = StreamEnd(worker_id)
                else:
                    result = load_stream_batch(samples, read, transform, collator)
                    read += len(samples)
            elif isinstance(payload, tuple):  # raw stream samples read by the main process
                first_position, samples = payload
                result = load_stream_batch(samples, first_position, transform, collator)
            else:
                result = load_map_batch(dataset, payload, transform, collator)
        except Exception as error:
            result = _failure(error, worker_id)
        result_queue.put((task_id, result))
    # the main process may have stopped reading: never block exit on unsent results
    result_queue.cancel_join_thread()
