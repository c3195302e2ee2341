"""torch kernels of the random ops (:mod:`mge.ops.random`): the numpy draw from the same
generators (handles eagerly, one per node in plans), moved to the inputs' device, so
that eager values do not depend on the backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..registry import TORCH, Prepared, PrepareSite
from ..torch_arrays import to_numpy, torch_device
from . import RNGOp
from .handles import rng_generator
from .numpy_kernels import ALL, draw, node_generator


def _as_torch(result: Any, arrays: tuple[torch.Tensor, ...]) -> Any:
    device = arrays[0].device if arrays else torch_device(None)
    if isinstance(result, tuple):
        return tuple(_as_torch(r, arrays) for r in result)
    return torch.from_numpy(np.ascontiguousarray(result)).to(device)


def _drawing(op: RNGOp, gen: np.random.Generator) -> Callable[..., Any]:
    def run(*arrays: torch.Tensor) -> Any:
        return _as_torch(draw(op, gen, *(to_numpy(a) for a in arrays)), arrays)
    return run


@TORCH.kernel(*ALL)
def random_draw(op: RNGOp, *arrays: torch.Tensor) -> Any:
    """Eager: draw from the generator of ``op.handle``."""
    return _drawing(op, rng_generator(op.handle, op.seed, op.type_name)[0])(*arrays)


@TORCH.preparer(*ALL)
def prepare_random(op: RNGOp, site: PrepareSite) -> Prepared | None:
    """In a plan: a generator of the node's own (see the numpy kernels)."""
    if site.host is None and not site.in_graph:
        return None
    return Prepared(_drawing(op, node_generator(op)), site.all_args())


__all__ = ["prepare_random", "random_draw"]
