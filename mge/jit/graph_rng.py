"""The random draws of a traced function's graph calls, as MegEngine's compiled graphs.

MegEngine runs a trace's symbolic first call, and every later call, as a compiled graph,
where each random operator owns a generator seeded with its ``seed`` and advancing run
after run (eager calls draw from the handle's stream instead). :class:`GraphDraws` gives
the k-th random op of each such call the generator of graph node k, so a trace draws what
its dump draws when loaded (``GraphInference``, mge.lite): the first graph call the
dump's first run, and so on.

Example:
    >>> import mge
    >>> from mge.jit import trace
    >>> f = trace(symbolic=True)(lambda: mge.random.normal(size=(2,)))
    >>> a, b = f().numpy(), f().numpy()
    >>> bool((a != b).all())  # the node's generator advanced
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator
from typing import Any

import numpy as np

from ..core.apply import add_value_hook, remove_value_hook
from ..core.opdef import OpDef, TensorInfo
from ..ops.random.numpy_kernels import draw, node_generator
from .trace_check import excluded


class GraphDraws:
    """Per-node generators of one trace's graph calls (keyed by call signature)."""

    def __init__(self) -> None:
        self._generators: dict[tuple[Hashable, int], np.random.Generator] = {}
        self._key: Hashable = None
        self._count = 0

    @contextlib.contextmanager
    def call(self, key: Hashable) -> Iterator[None]:
        """Draw as graph nodes during one call with signature ``key``."""
        self._key, self._count = key, 0
        add_value_hook(self._draw)
        try:
            yield
        finally:
            remove_value_hook(self._draw)

    def _draw(self, op: OpDef, inputs: tuple, out_infos: list[TensorInfo],
              backend: Any) -> list[Any] | None:
        if not op.random or excluded():
            return None
        node = (self._key, self._count)
        self._count += 1
        gen = self._generators.get(node)
        if gen is None:
            gen = self._generators[node] = node_generator(op)
        values = draw(op, gen, *[t.numpy() for t in inputs])
        values = values if isinstance(values, tuple) else (values,)
        device = inputs[0]._device if inputs else None
        return [backend.asarray(np.ascontiguousarray(v, dtype=i.dtype).reshape(i.shape), device)
                for v, i in zip(values, out_infos, strict=True)]


__all__ = ["GraphDraws"]
