"""A structural fuzzer over ``.mge`` loading (``mge.load_graph`` and Lite): mutated valid
files either load or fail with mge's format error, within a per-case time limit.

CI runs a few dozen cases (a few seconds); ``fuzz_campaign.py`` runs the long campaign.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .mge_mutations import SAMPLES, VALID, load_case, mutate


def test_valid_samples_load() -> None:
    for name in SAMPLES:
        assert load_case(VALID[name]) is None, name


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_files_fail_only_with_format_errors(name: str, data: st.DataObject) -> None:
    mutated = mutate(VALID[name], lambda n: data.draw(st.integers(0, n - 1)))
    assert load_case(mutated) is None


#: (sample, seed) of mutations the long campaign found, replayed on every run
FOUND = [
    ("preprocess", 7000609),  # a non-UTF-8 name reached the ONNX exporter (UnicodeEncodeError)
]


@pytest.mark.parametrize(("name", "seed"), FOUND)
def test_campaign_findings_stay_fixed(name: str, seed: int) -> None:
    assert load_case(mutate(VALID[name], random.Random(seed).randrange)) is None
