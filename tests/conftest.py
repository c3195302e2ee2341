"""Test-session setup shared by every test module."""

from __future__ import annotations

import os
from collections.abc import Iterator

# pytest-xdist runs one worker per core: one intra-op thread per worker avoids
# oversubscribing the cores (torch's spinning OpenMP threads slow down 10-100x otherwise).
# Set before numpy is imported, whose BLAS reads it once: without xdist as with it, every
# test sums in the same order.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# fast-run's choices stay in each test's process (no $MGE_HOME file shared across runs);
# tests of the file name one of their own
os.environ["MGE_FAST_RUN_CACHE"] = "0"
# likewise the load cache (entries of one code version must not serve another's tests)
os.environ["MGE_LOAD_CACHE"] = "0"
# and the int8 lowering's checks of onnxruntime's requantizing forms
os.environ["MGE_INT8_CHECK_CACHE"] = "0"
# plan caches check the graph their inference passes leave (off outside the tests)
os.environ["MGE_LINT_PLANS"] = "1"

import mge  # noqa: E402 - (after the environment above)

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # the torch extra is optional
    pass


@pytest.fixture(autouse=True)
def _seeded_global_rngs() -> None:
    """Every test starts from the same global random state (mge's, which initializes
    modules' weights, and numpy's legacy one), whatever ran before it in its worker:
    a test's outcome must not depend on the order pytest-xdist hands tests out in."""
    mge.random.seed(0)
    np.random.seed(0)


@pytest.fixture(params=mge.available_backends())
def each_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per available backend (``numpy``, ``torch``), as the default
    backend, restoring the previous default afterwards. Modules whose every test runs so
    say ``pytestmark = pytest.mark.usefixtures("each_backend")``; a test that needs the
    name takes it as an argument.

    Example:
        >>> def test_relu(each_backend: str) -> None: ...          # doctest: +SKIP
    """
    previous = mge.get_default_backend()
    mge.set_default_backend(request.param)
    try:
        yield request.param
    finally:
        mge.set_default_backend(previous)
