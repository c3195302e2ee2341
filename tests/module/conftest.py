"""``backend`` fixture: run a test once per available backend (numpy, torch)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import mge


@pytest.fixture(params=mge.available_backends())
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = mge.get_default_backend()
    mge.set_default_backend(request.param)
    try:
        yield request.param
    finally:
        mge.set_default_backend(previous)
