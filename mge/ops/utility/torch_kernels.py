"""torch kernels for ``AssertEqual``, ``VirtualDep`` and ``Copy`` (:mod:`mge.ops.utility`): the
error is computed on the device; only the scalar (and the tensors, for the message of a
failed check) come back."""

from __future__ import annotations

import torch

from ..registry import TORCH
from ..torch_arrays import to_numpy
from . import AssertEqual, Copy, VirtualDep


@TORCH.kernel(AssertEqual)
def assert_equal(op: AssertEqual, expect: torch.Tensor, get: torch.Tensor) -> torch.Tensor:
    err = 0.0
    if expect.numel():
        e, g = expect.double(), get.double()
        err = float((e - g).abs().div(torch.minimum(e.abs(), g.abs()).clamp(min=1.0)).max())
    if not op.report(err):
        raise op.error(to_numpy(expect), to_numpy(get))
    return expect


@TORCH.kernel(VirtualDep)
def virtual_dep(op: VirtualDep, x: torch.Tensor, *after: torch.Tensor) -> torch.Tensor:
    return x


@TORCH.kernel(Copy)
def copy(op: Copy, x: torch.Tensor) -> torch.Tensor:
    return x.clone()
