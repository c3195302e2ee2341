"""MegEngine's ``F.utils``: ``_assert_equal`` (a traceable check) and ``_simulate_error``,
plus the old addresses of ``topk_accuracy`` and ``copy``.

Example:
    >>> import mge, mge.functional as F
    >>> x = mge.tensor([1.0, 2.0, 3.0])
    >>> F.utils._assert_equal(x, x + 1e-6).numpy()
    array([1., 2., 3.], dtype=float32)
"""

from __future__ import annotations

from ..core._imperative_rt.core2 import sync
from ..core.apply import apply
from ..core.tensor.base import Tensor
from ..ops.utility import AssertEqual
from .metric import topk_accuracy
from .tensor import copy, ones, zeros


def _assert_equal(expect: Tensor, actual: Tensor, *, maxerr: float = 0.0001,
                  verbose: bool = False) -> Tensor:
    """``expect``, after checking that ``actual`` equals it within ``maxerr`` (the error of
    an element: the smaller of its absolute and relative errors); a traced function keeps
    the check in its dump (``AssertEqual``). A failed check raises ``UnequalError``, as
    ``AsyncError`` at ``async_level`` >= 1 (MegEngine syncs to report it at once)."""
    (result,) = apply(AssertEqual(maxerr=maxerr, verbose=verbose), expect, actual)
    sync()
    return result


def _simulate_error() -> Tensor:
    """A kernel failure (an ``AssertEqual`` of zeros and ones), for testing how errors
    surface: at once at ``async_level`` 0, else as ``AsyncError`` when the result is read."""
    (ret,) = apply(AssertEqual(maxerr=0, verbose=False), zeros(100), ones(100))
    return ret


__all__ = ["copy", "topk_accuracy"]
