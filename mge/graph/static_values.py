"""Values known before running: the small integer computations on shapes.

MegEngine computes target shapes in the graph (``GetVarShape`` -> ``Subtensor`` ->
arithmetic -> ``Concat`` -> ``Reshape``'s shape input). Loading a ``.mge`` file and
re-planning a graph for new input sizes both need those values while building:
:func:`fold_values` gives an op's output values from its inputs' (from ``infer`` where
the op knows them, as ``GetVarShape`` does; else by running its numpy kernel on small
known inputs).

Ops that read such a value as a static param (``Reshape``, ``Broadcast``) keep the var it
came from as extra trailing inputs ("sources"); :func:`source_count` says how many.

Example:
    >>> import numpy as np
    >>> from mge.core.opdef import TensorInfo
    >>> from mge.ops import GetVarShape
    >>> fold_values(GetVarShape(), [TensorInfo((2, 3), np.dtype("float32"))])[0]
    array([2, 3], dtype=int32)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Container, Sequence
from typing import Any

import numpy as np

from ..backends import get_backend
from ..core.apply import run_op
from ..core.opdef import OpDef, TensorInfo

#: values of vars up to this many elements are computed while building
STATIC_EVAL_LIMIT = 4096


@functools.cache
def _reads_sources(cls: type) -> bool:
    """Whether ops of class ``cls`` read static params from source inputs."""
    return hasattr(cls, "with_sources")


def source_count(op: OpDef, nr_inputs: int) -> int:
    """How many of ``op``'s ``nr_inputs`` trailing inputs are sources of static params
    (vars whose values the op reads as params: ``Reshape``'s target shape)."""
    if not _reads_sources(type(op)) or not op.nr_inputs:
        return 0
    return max(nr_inputs - min(op.nr_inputs), 0)


def has_unknown_input(inputs: Sequence[Any], known: Container[int]) -> bool:
    """Whether some of ``inputs`` (vars) is neither a constant nor known (its id in
    ``known``, the values computed while building) and none is known: an op on such
    inputs gets no values from :func:`fold_values` but those its ``infer`` gives."""
    unknown = False
    for v in inputs:
        if not v.is_const:
            if v.id in known:
                return False
            unknown = True
    return unknown


def fold_values(op: OpDef, infos: Sequence[TensorInfo],
                outs: Sequence[TensorInfo] | None = None) -> list[np.ndarray | None]:
    """The output values of ``op`` on inputs ``infos`` when they can be known now.

    ``infer`` may give them (its ``TensorInfo.value``); otherwise, when every input value
    is known and all are small (``STATIC_EVAL_LIMIT``), the numpy kernel computes them.
    Kernel errors leave the values unknown (the op then fails where it runs).
    ``outs``: ``op.check_inputs(infos)`` when the caller has it already.
    """
    if outs is None:
        outs = op.check_inputs(infos)
    values = [None if o.value is None else np.asarray(o.value) for o in outs]
    if op.random or any(v is not None for v in values) or any(i.value is None for i in infos):
        return values
    if any(math.prod(i.shape) > STATIC_EVAL_LIMIT for i in (*infos, *outs)):
        return values
    try:
        result = run_op(op, *[i.value for i in infos], backend=get_backend("numpy"))
    except (ArithmeticError, LookupError, TypeError, ValueError, NotImplementedError):
        return values
    results = result if len(outs) > 1 else (result,)
    return [np.asarray(r) for r in results]


__all__ = ["STATIC_EVAL_LIMIT", "fold_values", "has_unknown_input", "source_count"]
