"""Fixtures for the functional tests (the per-backend one, ``each_backend``, is
``tests/conftest.py``'s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


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
