"""Where the installed onnxruntime computes an ONNX op differently from the ONNX spec and
mge's numpy reference kernels, so that mge never hands it those ops.

Each entry was measured with mge's op table (NaN/Inf cases) and ONNX's own backend tests
against onnxruntime 1.23.2 (the newest for Python 3.10), 1.26.0, 1.28.0, 1.30.0, 1.31.1
and 1.32.0; ``fixed_in`` is the first of those versions that computes the op right.

Example:
    >>> [d.op for d in departures_in(["Relu", "TopK"], version=(1, 23, 2))]
    ['TopK']
    >>> departures_in(["TopK"], version=(1, 32, 0))
    []
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

import onnxruntime

#: the op names this module's strings speak: ONNX's, not mge's registered op types
#: (``tests/ops/test_op_homes.py`` checks each)
OP_VOCABULARY = "onnx"


@dataclasses.dataclass(frozen=True)
class Departure:
    """ONNX op ``op`` is computed wrongly by onnxruntime before ``fixed_in``."""

    op: str
    fixed_in: tuple[int, int]
    what: str


DEPARTURES = (
    Departure("TopK", (1, 32), "orders NaN below every number (the spec and numpy: above)"),
    Departure("BitShift", (1, 32), "shifts by the width or more differently from the spec"),
    Departure("Erf", (1, 28), "gives +-1 for NaN"),
    Departure("Sqrt", (1, 26), "gives NaN for +inf"),
)


def installed_version() -> tuple[int, ...]:
    """The installed onnxruntime's version as numbers (``(1, 23, 2)``)."""
    return tuple(int(n) for n in re.findall(r"\d+", onnxruntime.__version__)[:3])


def departures_in(op_types: Iterable[str],
                  version: tuple[int, ...] | None = None) -> list[Departure]:
    """The departures of onnxruntime ``version`` (default: the installed one) among
    ``op_types`` (ONNX op type names, e.g. a model's nodes)."""
    version = installed_version() if version is None else version
    present = set(op_types)
    return [d for d in DEPARTURES if d.op in present and version < d.fixed_in]


def describe(departures: list[Departure]) -> str:
    """One line naming each departure, for warnings and errors."""
    return "; ".join(f"{d.op} {d.what} (right from onnxruntime "
                     f"{'.'.join(map(str, d.fixed_in))})" for d in departures)


__all__ = ["DEPARTURES", "Departure", "departures_in", "describe", "installed_version"]
