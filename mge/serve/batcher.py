"""Dynamic batching: merge concurrent requests for one model into batches, run, split back.

A :class:`DynamicBatcher` owns a bounded queue. When a network is free it takes the oldest
request and waits up to ``max_queue_delay_ms`` for more, as long as the rows fit
``max_batch_size`` (requests already queued join at once). The batch then keeps the longest
run of its requests whose rows make one of the model's compiled batch sizes (the rest go back
to the head of the queue for the next batch), unless that would drop more than half its rows
(then the model pads it); it runs on a worker thread and each request gets its rows back.

A full queue refuses at once (:class:`QueueFullError`, HTTP 503 with ``Retry-After``) instead
of letting latency grow without bound; a request that outlives its timeout is answered 504
and, if it is still queued, never runs. ``stop()`` lets everything queued finish first.

Example:
    >>> batcher = DynamicBatcher(model, observer)                          # doctest: +SKIP
    >>> outputs = await batcher.infer({"input": x}, rows=1, timeout_s=5)   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import itertools
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .model import ServedModel
from .protocol import ProtocolError


class QueueFullError(ProtocolError):
    """The model's queue is full: 503, retry after ``Retry-After`` seconds."""

    def __init__(self, model: str, size: int, retry_after_s: int) -> None:
        super().__init__(503, f"model {model!r} is overloaded: its queue holds {size} "
                              f"requests; retry after {retry_after_s} s",
                         {"Retry-After": str(retry_after_s)})


class BatchObserver(Protocol):
    """Receives what the batcher does (the metrics implement it)."""

    def queue_depth(self, model: str, depth: int) -> None: ...

    def batch_done(self, model: str, rows: int, requests: int, seconds: float) -> None: ...


@dataclasses.dataclass
class _Pending:
    inputs: dict[str, np.ndarray]
    rows: int
    future: asyncio.Future[dict[str, np.ndarray]]

    def signature(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        return tuple(sorted((n, a.shape[1:]) for n, a in self.inputs.items()))


def batch_prefix(rows: Sequence[int], sizes: Sequence[int]) -> int:
    """How many of the requests (with ``rows`` rows each, in queue order) to run now: the
    most whose rows add up to one of ``sizes``, if they hold at least half the rows, else
    all (the model pads them).

    Example:
        >>> batch_prefix([1] * 13, (1, 2, 4, 8, 16))
        8
        >>> batch_prefix([1, 4, 4, 4], (1, 2, 4, 8, 16))
        4
    """
    totals = list(itertools.accumulate(rows))
    exact = [count for count, total in enumerate(totals, 1) if total in sizes]
    if exact and 2 * totals[exact[-1] - 1] >= totals[-1]:
        return exact[-1]
    return len(rows)


class DynamicBatcher:
    """The queue and batching loop of one model (lives on one asyncio event loop)."""

    def __init__(self, model: ServedModel, observer: BatchObserver,
                 retry_after_s: int = 1) -> None:
        self.model = model
        self._observer = observer
        self._retry_after_s = retry_after_s
        spec = model.spec
        self._max_rows = max(spec.max_batch_size, 1)
        self._delay_s = spec.max_queue_delay_ms / 1000 if model.batching else 0.0
        self._queue: asyncio.Queue[_Pending] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._carry: collections.deque[_Pending] = collections.deque()  # before the queue
        self._waiting = 0  # submitted, not yet running (queued or in a forming batch)
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            spec.instances, thread_name_prefix=f"mge-serve-{spec.name}")

    def _start(self) -> None:
        self._queue = asyncio.Queue(self.model.spec.max_queue_size)
        self._slots = asyncio.Semaphore(self.model.spec.instances)
        self._loop_task = asyncio.get_running_loop().create_task(self._batch_loop())

    @property
    def depth(self) -> int:
        """Requests waiting: queued, or in a batch still being formed."""
        return self._waiting

    def _left(self, count: int) -> None:
        self._waiting -= count
        self._observer.queue_depth(self.model.name, self._waiting)

    async def infer(self, inputs: dict[str, np.ndarray], rows: int,
                    timeout_s: float) -> dict[str, np.ndarray]:
        """Queue one checked request and wait for its outputs (its ``rows`` rows)."""
        if self._loop_task is None:
            self._start()
        assert self._queue is not None
        future: asyncio.Future[dict[str, np.ndarray]] = \
            asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Pending(inputs, rows, future))
        except asyncio.QueueFull:
            raise QueueFullError(self.model.name, self._queue.maxsize,
                                 self._retry_after_s) from None
        self._waiting += 1
        self._observer.queue_depth(self.model.name, self._waiting)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:  # TimeoutError's alias from 3.11 on
            raise ProtocolError(504, f"model {self.model.name!r}: the request timed out after "
                                     f"{timeout_s * 1000:.0f} ms") from None

    async def _next(self, timeout_s: float | None) -> _Pending | None:
        """The next live request (skipping timed-out ones), or None after ``timeout_s``."""
        assert self._queue is not None
        while True:
            if self._carry:
                item = self._carry.popleft()
            elif timeout_s is None:
                item = await self._queue.get()
            elif not self._queue.empty():
                item = self._queue.get_nowait()
            elif timeout_s <= 0:
                return None
            else:
                try:
                    item = await asyncio.wait_for(self._queue.get(), timeout_s)
                except asyncio.TimeoutError:  # TimeoutError's alias from 3.11 on
                    return None
            if not item.future.done():
                return item
            self._left(1)  # timed out while queued: it never runs

    async def _batch_loop(self) -> None:
        assert self._slots is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            first = await self._next(None)
            assert first is not None
            batch, rows = [first], first.rows
            deadline = loop.time() + self._delay_s
            while rows < self._max_rows:
                item = await self._next(deadline - loop.time())
                if item is None:
                    break
                if rows + item.rows > self._max_rows or item.signature() != first.signature():
                    self._carry.appendleft(item)
                    break
                batch.append(item)
                rows += item.rows
            keep = batch_prefix([p.rows for p in batch], self.model.batch_sizes)
            self._carry.extendleft(reversed(batch[keep:]))
            batch = batch[:keep]
            rows = sum(p.rows for p in batch)
            self._left(len(batch))
            task = loop.create_task(self._run(batch, rows))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Pending], rows: int) -> None:
        assert self._slots is not None
        try:
            names = batch[0].inputs
            merged = {n: batch[0].inputs[n] if len(batch) == 1 else
                      np.concatenate([p.inputs[n] for p in batch]) for n in names}
            try:
                outputs, seconds = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self.model.run, merged)
            except Exception as exc:  # the model failed on this batch: tell each request
                error = ProtocolError(500, f"model {self.model.name!r} failed on a batch of "
                                           f"{rows}: {type(exc).__name__}: {exc}")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                return
            self._observer.batch_done(self.model.name, rows, len(batch), seconds)
            start = 0
            for pending in batch:
                stop = start + pending.rows
                if not pending.future.done():
                    pending.future.set_result(
                        outputs if len(batch) == 1 else
                        {n: v[start:stop] for n, v in outputs.items()})
                start = stop
        finally:
            self._slots.release()

    async def stop(self) -> None:
        """Finish what is queued and running, then stop the loop and the worker threads."""
        if self._loop_task is not None:
            assert self._queue is not None
            while self.depth:
                await asyncio.sleep(0.01)
            # the finished tasks' discard callbacks may not have run yet (awaiting a
            # gather of finished tasks does not yield to the loop on Python 3.13)
            while pending := [task for task in self._running if not task.done()]:
                await asyncio.gather(*pending, return_exceptions=True)
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        self._executor.shutdown(wait=True)


__all__ = ["BatchObserver", "DynamicBatcher", "QueueFullError", "batch_prefix"]
