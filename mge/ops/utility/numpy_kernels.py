"""numpy kernels for ``AssertEqual``, ``VirtualDep`` and ``Copy`` (:mod:`mge.ops.utility`)."""

from __future__ import annotations

import numpy as np

from ..registry import NUMPY
from . import AssertEqual, Copy, VirtualDep, max_error


@NUMPY.kernel(AssertEqual)
def assert_equal(op: AssertEqual, expect: np.ndarray, get: np.ndarray) -> np.ndarray:
    if not op.report(max_error(expect, get)):
        raise op.error(expect, get)
    return expect


@NUMPY.kernel(VirtualDep)
def virtual_dep(op: VirtualDep, x: np.ndarray, *after: np.ndarray) -> np.ndarray:
    return x


@NUMPY.kernel(Copy)
def copy(op: Copy, x: np.ndarray) -> np.ndarray:
    return np.array(x, copy=True)
