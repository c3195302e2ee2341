"""The random-number handles behind ``megengine.core._imperative_rt.ops``.

A handle is a seed bound to a device: the random ops (:mod:`mge.ops.random`) with
``handle=h`` draw from its generators, each draw advancing the one it used. As in
MegEngine (one seeded dnn operator per handle and op type), each op type has a stream of
its own: ``uniform`` calls do not move ``normal``'s, so the first draw of each type gives
what a graph node seeded with the handle's seed gives. Handle ``0`` is the global one: it
restarts from an op's ``seed`` whenever that seed differs from the one it was last seeded
with (``mge.random.seed`` changes it).
Generators are numpy ``Generator``s; values are statistically, not bitwise, MegEngine's.

Example:
    >>> h = new_rng_handle("cpu0", 7)
    >>> get_rng_handle_compnode(h)
    'cpu0'
    >>> delete_rng_handle(h)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class _Handle:
    device: str | None
    seed: int
    #: op type name -> its generator, seeded with ``seed`` at the type's first draw
    generators: dict[str, np.random.Generator] = field(default_factory=dict)

    def generator(self, op_type: str) -> np.random.Generator:
        gen = self.generators.get(op_type)
        if gen is None:
            gen = self.generators[op_type] = np.random.default_rng(self.seed)
        return gen


_global = _Handle(None, 0)
_handles: dict[int, _Handle] = {}
_ids = itertools.count(1)


def _check_seed(seed: Any, what: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{what}: seed must be a non-negative int, got {seed!r}")
    return int(seed)


def set_global_rng_seed(seed: int) -> None:
    """Reseed the global generator (handle 0) with ``seed``."""
    seed = _check_seed(seed, "set_global_rng_seed")
    global _global  # noqa: PLW0603 - the one process-wide generator
    _global = _Handle(None, seed)


def get_global_rng_seed() -> int:
    """The seed the global generator was last seeded with."""
    return _global.seed


def new_rng_handle(device: Any, seed: int) -> int:
    """A new handle: a generator seeded with ``seed`` whose draws live on ``device``."""
    seed = _check_seed(seed, "new_rng_handle")
    handle = next(_ids)
    _handles[handle] = _Handle(str(device) if device is not None else None, seed)
    return handle


def _get(handle: int) -> _Handle:
    if handle not in _handles:
        raise ValueError(f"unknown rng handle {handle!r} (never made, or deleted)")
    return _handles[handle]


def delete_rng_handle(handle: int) -> None:
    """Free ``handle``; using it afterwards raises ``ValueError``."""
    _get(handle)
    del _handles[handle]


def get_rng_handle_compnode(handle: int) -> str | None:
    """The device ``handle`` was made for."""
    return _get(handle).device


def rng_generator(handle: int, seed: int, op_type: str
                  ) -> tuple[np.random.Generator, str | None]:
    """The generator (and device) an RNG op of type ``op_type`` (``"UniformRNG"``) with
    ``handle`` and ``seed`` draws from."""
    if handle == 0:
        if _global.seed != seed:
            set_global_rng_seed(seed)
        return _global.generator(op_type), None
    entry = _get(handle)
    return entry.generator(op_type), entry.device


__all__ = ["delete_rng_handle", "get_global_rng_seed", "get_rng_handle_compnode",
           "new_rng_handle", "rng_generator", "set_global_rng_seed"]
