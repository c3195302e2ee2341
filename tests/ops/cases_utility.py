"""Op-table cases for AssertEqual (checks that pass; failing checks are in tests/jit),
VirtualDep and Copy."""

from __future__ import annotations

from mge.ops.utility import AssertEqual, Copy, VirtualDep

from .optable import OpCase, rand

_X = rand(2, 3, 4)

CASES = [
    OpCase(AssertEqual(), [_X, _X.copy()]),
    OpCase(AssertEqual(maxerr=1e-2), [_X, _X * 1.001], id="AssertEqual-within-maxerr"),
    OpCase(AssertEqual(), [rand(0, 3), rand(0, 3)], id="AssertEqual-empty"),
    OpCase(AssertEqual(), [rand(5, dtype="int32"), rand(5, dtype="int32")], id="AssertEqual-int"),
    OpCase(VirtualDep(), [_X, rand(3)]),
    OpCase(VirtualDep(), [_X], id="VirtualDep-alone"),
    OpCase(Copy(), [_X]),
    OpCase(Copy(), [rand(4, dtype="int32")], id="Copy-int32"),
]
