"""Shared fixtures for the functional tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import mge


@pytest.fixture(params=mge.available_backends())
def each_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per available backend, restoring the default afterwards."""
    previous = mge.get_default_backend()
    mge.set_default_backend(request.param)
    yield request.param
    mge.set_default_backend(previous)


@pytest.fixture
def recorded_ops() -> Iterator[list]:
    """The ops applied while the test runs, in order (via an ``apply`` observer)."""
    from mge.core.apply import add_observer, remove_observer

    ops: list = []

    def observe(op: object, inputs: tuple, outputs: tuple) -> None:
        ops.append(op)

    add_observer(observe)
    yield ops
    remove_observer(observe)
