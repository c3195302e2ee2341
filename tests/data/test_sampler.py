"""Samplers and the Collator."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from mge.data import (
    Collator,
    Infinite,
    RandomSampler,
    ReplacementSampler,
    SequentialSampler,
    StreamSampler,
)


def test_sequential_sampler_batches_and_drop_last() -> None:
    assert list(SequentialSampler(range(7), batch_size=3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(SequentialSampler(range(7), batch_size=3, drop_last=True)) == [
        [0, 1, 2], [3, 4, 5]]
    assert len(SequentialSampler(range(7), batch_size=3)) == 3
    assert len(SequentialSampler(range(7), batch_size=3, drop_last=True)) == 2


def test_random_sampler_is_a_seeded_permutation() -> None:
    first = sum(RandomSampler(range(50), batch_size=7, seed=4), [])
    assert sorted(first) == list(range(50)) and first != list(range(50))
    assert sum(RandomSampler(range(50), batch_size=7, seed=4), []) == first
    sampler = RandomSampler(range(50), batch_size=50, seed=4)
    assert list(sampler) != list(sampler)  # a new order every epoch


def test_ranks_split_the_indices() -> None:
    shares = [sum(SequentialSampler(range(10), batch_size=1, world_size=3, rank=r), [])
              for r in range(3)]
    assert [len(s) for s in shares] == [4, 4, 4]
    assert set(sum(shares, [])) == set(range(10))


def test_replacement_sampler_follows_weights() -> None:
    sampler = ReplacementSampler(range(3), batch_size=100, num_samples=3000,
                                 weights=[0.0, 1.0, 3.0], seed=0)
    counts = collections.Counter(sum(sampler, []))
    assert counts[0] == 0 and 2.5 < counts[2] / counts[1] < 3.5
    with pytest.raises(ValueError, match="len\\(weights\\)"):
        ReplacementSampler(range(3), weights=[1.0])


def test_infinite_restarts_and_forwards_attributes() -> None:
    sampler = Infinite(SequentialSampler(range(3), batch_size=2))
    batches = iter(sampler)
    assert [next(batches) for _ in range(4)] == [[0, 1], [2], [0, 1], [2]]
    assert sampler.batch_size == 2 and len(sampler) == np.iinfo(np.int64).max


def test_stream_sampler_and_argument_errors() -> None:
    assert next(iter(StreamSampler(batch_size=3))) == [0, 1, 2]
    with pytest.raises(ValueError, match="batch_size"):
        SequentialSampler(range(3), batch_size=0)
    with pytest.raises(ValueError, match="drop_last"):
        SequentialSampler(range(3), drop_last=1)
    with pytest.raises(ValueError, match="num_samples should be greater than batch_size"):
        RandomSampler(range(3), batch_size=4)
    with pytest.raises(ValueError, match="indices"):
        SequentialSampler(range(3), indices=iter([0]))


def test_collator_recurses_into_containers() -> None:
    samples = [{"img": np.full((2,), i), "meta": (i, float(i), "n")} for i in range(3)]
    batch = Collator().apply(samples)
    np.testing.assert_array_equal(batch["img"], [[0, 0], [1, 1], [2, 2]])
    ints, floats, names = batch["meta"]
    assert ints.tolist() == [0, 1, 2] and floats.dtype == np.float64 and names == ["n"] * 3
    with pytest.raises(TypeError, match="dtype <U1"):
        Collator().apply([np.array(["a"]), np.array(["b"])])
    with pytest.raises(TypeError, match="found object"):
        Collator().apply([object()])
