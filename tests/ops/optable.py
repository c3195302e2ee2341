"""The op-table test's case type. Each ``cases_<kind>.py`` module defines ``CASES``.

A case is one op with concrete numpy inputs; the table test runs it on every backend
(contiguous and non-contiguous inputs) and compares with the numpy backend, and checks
the outputs against the op's ``infer`` rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from mge.core.opdef import OpDef


@dataclasses.dataclass
class OpCase:
    """One op applied to concrete inputs."""

    op: OpDef
    inputs: Sequence[np.ndarray]
    id: str = ""
    atol: float = 1e-5
    rtol: float = 1e-5

    def __post_init__(self) -> None:
        self.inputs = [np.asarray(i) for i in self.inputs]
        if not self.id:
            shapes = "x".join(str(list(i.shape)) for i in self.inputs)
            self.id = f"{self.op.type_name}-{shapes}"


def rand(*shape: int, dtype: str = "float32", seed: int = 0, low: float = -2, high: float = 2):
    """Deterministic random array for test cases."""
    rng = np.random.default_rng(seed + sum(shape) * 7 + len(shape))
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(low), int(high) + 1, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def add_named_outputs(graph: Any, ops: dict[str, tuple[OpDef, list]]) -> None:
    """Add each ``name: (op, inputs)`` of ``ops`` to ``graph``; its first output, named
    ``name``, becomes a graph output (in ``ops``' order)."""
    outputs = []
    for name, (op, inputs) in ops.items():
        out = graph.add_op(op, inputs)[0]
        out.name = name
        outputs.append(out)
    graph.outputs = outputs


def with_nonfinite(case: OpCase) -> OpCase | None:
    """``case`` with NaN, +Inf and -Inf in its first float input (``None`` when it has no
    float input with at least 3 elements)."""
    for k, x in enumerate(case.inputs):
        if x.dtype.kind == "f" and x.size >= 3:
            bad = x.copy()
            flat = bad.reshape(-1)
            step = max(flat.size // 3, 1)
            flat[0], flat[step], flat[min(2 * step, flat.size - 1)] = np.nan, np.inf, -np.inf
            inputs = [*case.inputs[:k], bad, *case.inputs[k + 1:]]
            return dataclasses.replace(case, inputs=inputs, id=f"{case.id}-nonfinite")
    return None
