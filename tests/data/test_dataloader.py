"""DataLoader: batching, worker processes, errors, timeouts and shutdown."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

import mge
from mge.data import (
    Collator,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    StreamSampler,
    get_worker_info,
)
from mge.data.dataset import ArrayDataset, Dataset, ImageFolder, StreamDataset
from mge.data.transform import Compose, Normalize, PseudoTransform, ToMode, Transform

from .conftest import child_pids, linux_only

cv2 = pytest.importorskip("cv2", reason="the image tests need OpenCV (the 'vision' extra)")

NUM_IMAGES = 2000


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """2,000 small PNGs in 10 class folders; each image encodes its own number."""
    root = tmp_path_factory.mktemp("images")
    for number in range(NUM_IMAGES):
        folder = root / f"class_{number % 10}"
        folder.mkdir(exist_ok=True)
        image = np.zeros((6, 6, 3), np.uint8)
        image[..., 0], image[..., 1] = number // 256, number % 256
        cv2.imwrite(str(folder / f"{number:04d}.png"), image)
    return str(root)


def _numbers(images: np.ndarray) -> list[int]:
    """The numbers encoded in a CHW batch of the images above."""
    return (images[:, 0, 0, 0].astype(int) * 256 + images[:, 1, 0, 0].astype(int)).tolist()


@linux_only
def test_two_workers_read_2000_images_once_each(image_folder: str) -> None:
    dataset = ImageFolder(image_folder)
    assert len(dataset) == NUM_IMAGES
    before = child_pids()
    loader = DataLoader(
        dataset,
        sampler=RandomSampler(dataset, batch_size=64, seed=3),
        transform=ToMode("CHW"),
        num_workers=2,
        timeout=60,
    )
    seen: list[int] = []
    for images, labels in loader:
        assert images.shape[1:] == (3, 6, 6) and images.dtype == np.uint8
        numbers = _numbers(images)
        assert [n % 10 for n in numbers] == labels.tolist()  # labels travel with images
        seen += numbers
    assert len(seen) == NUM_IMAGES and sorted(seen) == list(range(NUM_IMAGES))
    assert child_pids() == before  # the workers are gone once the epoch ends


class FailsAt(Dataset):
    """Samples are their index; reading ``bad`` raises."""

    def __init__(self, size: int, bad: int) -> None:
        self.size, self.bad = size, bad

    def __getitem__(self, index: int) -> np.ndarray:
        if index == self.bad:
            raise OSError(f"corrupt record {index}")
        return np.array([index])

    def __len__(self) -> int:
        return self.size


@linux_only
def test_worker_error_names_the_sample_and_leaves_no_process() -> None:
    before = child_pids()
    dataset = FailsAt(500, bad=321)
    loader = DataLoader(dataset, SequentialSampler(dataset, batch_size=16), num_workers=2)
    got: list[int] = []
    with pytest.raises(RuntimeError) as info:
        for batch in loader:
            got += batch[:, 0].tolist()
    message = str(info.value)
    assert "Caught OSError in DataLoader worker process" in message
    assert "sample index 321" in message and "corrupt record 321" in message
    assert got == list(range(320))  # every batch before the failing one arrived, in order
    assert child_pids() == before


class OddTransform(Transform):
    def apply(self, input: tuple) -> tuple:
        if int(input[0][0]) == 77:
            raise ValueError("cannot transform 77")
        return input


@linux_only
def test_transform_error_names_the_sample_index() -> None:
    data = np.arange(100).reshape(100, 1)
    dataset = ArrayDataset(data)
    loader = DataLoader(dataset, RandomSampler(dataset, batch_size=10, seed=0),
                        transform=OddTransform(), num_workers=2)
    with pytest.raises(RuntimeError, match=r"(?s)ValueError in DataLoader worker process "
                                           r"\d while transforming sample index 77.*cannot"):
        list(loader)


class KillsItself(Transform):
    def apply(self, input: tuple) -> tuple:
        os.kill(os.getpid(), signal.SIGKILL)
        return input


class Sleeps(Transform):
    def apply(self, input: tuple) -> tuple:
        time.sleep(30)
        return input


@linux_only
@pytest.mark.parametrize(("transform", "timeout", "error"), [
    (KillsItself(), 0, r"DataLoader worker .* exited unexpectedly.*-9"),
    (Sleeps(), 1, "timeout"),
], ids=["killed", "stuck"])
def test_lost_workers_are_reported_and_reaped(transform: Transform, timeout: int,
                                              error: str) -> None:
    """A killed worker is reported; stuck ones time out; neither is left behind."""
    before = child_pids()
    dataset = ArrayDataset(np.zeros((8, 2)))
    loader = DataLoader(dataset, SequentialSampler(dataset, batch_size=4),
                        transform=transform, num_workers=2, timeout=timeout)
    with pytest.raises(RuntimeError, match=error):
        next(iter(loader))
    assert child_pids() == before


@linux_only
def test_abandoned_iterator_stops_its_workers() -> None:
    before = child_pids()
    dataset = ArrayDataset(np.arange(400).reshape(400, 1))
    batches = iter(DataLoader(dataset, SequentialSampler(dataset, batch_size=4), num_workers=2))
    assert next(batches)[0][:, 0].tolist() == [0, 1, 2, 3]
    assert len(child_pids() - before) == 2
    del batches
    assert child_pids() == before


def test_serial_and_parallel_give_the_same_batches() -> None:
    data = np.random.RandomState(0).randint(0, 255, (50, 4, 4, 3)).astype(np.uint8)
    dataset = ArrayDataset(data, np.arange(50))
    transform = Compose([Normalize(mean=10.0, std=2.0), ToMode("CHW")])
    runs = [
        list(DataLoader(dataset, SequentialSampler(dataset, batch_size=8), transform,
                        num_workers=workers))
        for workers in (0, 2)
    ]
    assert len(runs[0]) == len(runs[1]) == 7
    for (x0, y0), (x1, y1) in zip(*runs):
        np.testing.assert_array_equal(x0, x1)
        np.testing.assert_array_equal(y0, y1)
    np.testing.assert_allclose(runs[0][0][0][0], (data[0].transpose(2, 0, 1) - 10.0) / 2.0)


def test_defaults_and_argument_errors() -> None:
    dataset = ArrayDataset(np.zeros((10, 2)))
    loader = DataLoader(dataset)
    assert isinstance(loader.sampler, SequentialSampler) and len(loader) == 10
    assert isinstance(loader.transform, PseudoTransform)
    assert isinstance(loader.collator, Collator)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(dataset, num_workers=-1)
    with pytest.raises(ValueError, match="timeout"):
        DataLoader(dataset, timeout=-1)
    with pytest.raises(AssertionError, match="do not match.*StreamSampler"):
        DataLoader(dataset, sampler=StreamSampler(2))


def test_preload_yields_tensors() -> None:
    dataset = ArrayDataset(np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6))
    batches = list(DataLoader(dataset, SequentialSampler(dataset, batch_size=4), preload=True))
    assert [type(x) for x, _ in batches] == [mge.Tensor, mge.Tensor]
    np.testing.assert_array_equal(batches[1][0].numpy(), [[8, 9], [10, 11]])


class Counter(StreamDataset):
    """A stream of ``(array, number)``; with ``parallel_stream`` each worker reads its share."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __iter__(self):
        info = get_worker_info()
        numbers = range(self.count)
        if info is not None:
            numbers = numbers[info.idx :: info.worker]
        for number in numbers:
            yield np.full((2, 2, 3), number % 256, np.uint8), number


@pytest.mark.parametrize(("workers", "parallel"), [(0, False), (2, False), (2, True)])
def test_stream_dataset_reads_every_sample_once(workers: int, parallel: bool) -> None:
    loader = DataLoader(Counter(30), StreamSampler(batch_size=4), ToMode("CHW"),
                        num_workers=workers, parallel_stream=parallel, timeout=30)
    seen = []
    for images, numbers in loader:
        assert images.shape[1:] == (3, 2, 2)
        seen += numbers.tolist()
    assert sorted(seen) == list(range(30))


class Stuck(StreamDataset):
    def __init__(self) -> None:
        pass

    def __iter__(self):
        time.sleep(30)
        yield 0


@pytest.mark.parametrize("workers", [0, 2])
def test_stuck_stream_times_out(workers: int) -> None:
    loader = DataLoader(Stuck(), StreamSampler(batch_size=2), num_workers=workers, timeout=1)
    with pytest.raises(RuntimeError, match="timeout"):
        next(iter(loader))
