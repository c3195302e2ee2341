"""Dynamic batching on a small real .mge model (y = 2x + 1): merging, splitting, a bounded
queue, timeouts and draining on stop."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import mge
from mge.jit import trace
from mge.serve import ServeDefaults, discover
from mge.serve.batcher import DynamicBatcher, QueueFullError, batch_prefix
from mge.serve.model import ServedModel, batch_sizes
from mge.serve.protocol import ProtocolError


@dataclasses.dataclass
class Recorder:
    """Keeps what the batcher reports."""

    batches: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    depths: list[int] = dataclasses.field(default_factory=list)

    def queue_depth(self, model: str, depth: int) -> None:
        self.depths.append(depth)

    def batch_done(self, model: str, rows: int, requests: int, seconds: float) -> None:
        self.batches.append((rows, requests))


@pytest.fixture(scope="module")
def affine_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    @trace(symbolic=True, capture_as_const=True)
    def affine(x: mge.Tensor) -> mge.Tensor:
        return x * 2 + 1

    affine(mge.tensor(np.zeros((1, 4), np.float32)))
    path = tmp_path_factory.mktemp("affine") / "affine.mge"
    affine.dump(str(path), arg_names=["x"], output_names=["y"])
    return path


def _model(path: Path, **settings: object) -> ServedModel:
    return ServedModel(discover(path, ServeDefaults(**settings))[0])  # type: ignore[arg-type]


def _rows(start: int, count: int) -> np.ndarray:
    return np.arange(start * 4, (start + count) * 4, dtype=np.float32).reshape(count, 4)


def test_concurrent_requests_merge_and_split_back(affine_file: Path) -> None:
    model = _model(affine_file, max_batch_size=8, max_queue_delay_ms=200.0)
    assert [t.shape for t in model.inputs] == [(-1, 4)]
    recorder = Recorder()
    sizes = [1, 2, 1, 3]

    async def scenario() -> list[dict[str, np.ndarray]]:
        batcher = DynamicBatcher(model, recorder)
        starts = np.cumsum([0, *sizes[:-1]])
        results = await asyncio.gather(*(batcher.infer({"x": _rows(s, n)}, n, 10.0)
                                         for s, n in zip(starts, sizes)))
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    start = 0
    for n, result in zip(sizes, results):
        np.testing.assert_array_equal(result["y"], _rows(start, n) * 2 + 1)
        start += n
    # 7 rows queued; the model runs batches of 1, 2, 4, 8: the first 3 requests (4 rows)
    # run as one batch, the last (3 rows) as the next, padded to 4
    assert recorder.batches == [(4, 3), (3, 1)]
    assert recorder.depths[-1] == 0


def test_batch_sizes_and_prefixes() -> None:
    assert batch_sizes(0) == batch_sizes(1) == (1,)
    assert batch_sizes(8) == (1, 2, 4, 8)
    assert batch_sizes(12) == (1, 2, 4, 8, 12)
    sizes = batch_sizes(16)
    assert batch_prefix([1] * 16, sizes) == 16
    assert batch_prefix([1] * 15, sizes) == 8
    assert batch_prefix([3, 3, 3], sizes) == 3  # no prefix makes a size: padded to 16
    assert batch_prefix([2, 2, 3], sizes) == 2  # 4 rows of 7
    assert batch_prefix([1, 3, 3, 3], sizes) == 4  # 4 rows of 10 are too few: padded to 16


def test_each_batch_size_runs_on_its_own_compiled_network(affine_file: Path) -> None:
    model = _model(affine_file, max_batch_size=8, instances=2)
    for rows in range(1, 9):
        outputs, _ = model.run({"x": _rows(0, rows)})  # 3, 5, 6, 7 are padded
        np.testing.assert_array_equal(outputs["y"], _rows(0, rows) * 2 + 1)
    networks = [model._free[size].get() for size in model.batch_sizes for _ in range(2)]
    assert len({id(n) for n in networks}) == 8
    # each network compiled one plan, for its size, when the model loaded
    assert [[key[0][0] for key in n._cache._plans] for n in networks] == \
        [[1], [1], [2], [2], [4], [4], [8], [8]]


def test_batches_respect_the_size_limit(affine_file: Path) -> None:
    model = _model(affine_file, max_batch_size=2, max_queue_delay_ms=200.0)
    recorder = Recorder()

    async def scenario() -> None:
        batcher = DynamicBatcher(model, recorder)
        await asyncio.gather(*(batcher.infer({"x": _rows(i, 1)}, 1, 10.0) for i in range(5)))
        await batcher.stop()

    asyncio.run(scenario())
    assert sorted(recorder.batches, reverse=True) == [(2, 2), (2, 2), (1, 1)]


def test_a_full_queue_refuses_with_retry_after(affine_file: Path) -> None:
    model = _model(affine_file, max_batch_size=1, max_queue_size=2)

    async def scenario() -> list[object]:
        batcher = DynamicBatcher(model, Recorder(), retry_after_s=3)
        # every request is queued before the batching loop first runs
        results = await asyncio.gather(*(batcher.infer({"x": _rows(i, 1)}, 1, 10.0)
                                         for i in range(5)), return_exceptions=True)
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    refused = [r for r in results if isinstance(r, QueueFullError)]
    assert len(refused) == 3 and all(isinstance(r, dict) for r in results[:2])
    assert refused[0].status == 503 and refused[0].headers == {"Retry-After": "3"}


def test_timeouts_answer_504_and_the_batcher_keeps_serving(affine_file: Path) -> None:
    model = _model(affine_file, max_batch_size=4, max_queue_delay_ms=50.0)
    recorder = Recorder()

    async def scenario() -> dict[str, np.ndarray]:
        batcher = DynamicBatcher(model, recorder)
        with pytest.raises(ProtocolError, match="timed out after 0 ms") as info:
            await batcher.infer({"x": _rows(0, 1)}, 1, 1e-6)
        assert info.value.status == 504
        result = await batcher.infer({"x": _rows(1, 1)}, 1, 10.0)
        await batcher.stop()
        return result

    np.testing.assert_array_equal(asyncio.run(scenario())["y"], _rows(1, 1) * 2 + 1)
    assert recorder.depths[-1] == 0


def test_stop_finishes_queued_requests(affine_file: Path) -> None:
    model = _model(affine_file, max_batch_size=1, instances=2)

    async def scenario() -> list[dict[str, np.ndarray]]:
        batcher = DynamicBatcher(model, Recorder())
        tasks = [asyncio.ensure_future(batcher.infer({"x": _rows(i, 1)}, 1, 10.0))
                 for i in range(6)]
        await asyncio.sleep(0)
        await batcher.stop()
        return [t.result() for t in tasks]

    for i, result in enumerate(asyncio.run(scenario())):
        np.testing.assert_array_equal(result["y"], _rows(i, 1) * 2 + 1)


def test_inputs_are_checked_against_the_model(affine_file: Path) -> None:
    model = _model(affine_file, max_batch_size=4)
    assert model.check_inputs({"x": _rows(0, 3)}) == 3
    for inputs, message in [
        ({"z": _rows(0, 1)}, r"unknown: \['z'\], missing: \['x'\]"),
        ({"x": _rows(0, 1).astype(np.float64)}, "is FP32, got FP64"),
        ({"x": np.zeros((1, 5), np.float32)}, r"has shape \[-1, 4\], got \[1, 5\]"),
        ({"x": _rows(0, 5)}, "batches of 1 to 4, got 5"),
    ]:
        with pytest.raises(ProtocolError, match=message):
            model.check_inputs(inputs)
    unbatched = _model(affine_file, max_batch_size=0)
    assert [t.shape for t in unbatched.inputs] == [(1, 4)]
    with pytest.raises(ProtocolError, match=r"has shape \[1, 4\], got \[2, 4\]"):
        unbatched.check_inputs({"x": _rows(0, 2)})
