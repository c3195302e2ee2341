"""numpy kernels for ``AssertEqual`` and ``VirtualDep`` (:mod:`mge.ops.utility`)."""

from __future__ import annotations

import numpy as np

from ..registry import NUMPY
from . import AssertEqual, VirtualDep, max_error


@NUMPY.kernel(AssertEqual)
def assert_equal(op: AssertEqual, expect: np.ndarray, get: np.ndarray) -> np.ndarray:
    if not op.report(max_error(expect, get)):
        raise op.error(expect, get)
    return expect


@NUMPY.kernel(VirtualDep)
def virtual_dep(op: VirtualDep, x: np.ndarray, *after: np.ndarray) -> np.ndarray:
    return x
