"""How much memory a loaded ``.mge`` model may declare: the load-time memory budget.

A few hundred bytes of ``.mge`` can declare a 16 GiB input or intermediate; running it
would end in a raw ``MemoryError`` (or the OOM killer). While loading, every declared
tensor (inputs, constants, operator outputs) is checked against a total budget, and so
is the sum of the inputs, the constants and the largest intermediate result (the least
memory one run needs); a model over budget raises :class:`MemoryBudgetError`, which the
loaders turn into ``MgeFormatError`` naming the file, the operator, the tensor, its
shape, dtype and size, and the budget.

The budget is, in order: the ``memory_budget`` argument of the loader; the environment
variable ``MGE_LOAD_MEMORY_BUDGET`` (bytes, or a size such as ``8GiB``, ``512MB``,
``1.5T``); half of the machine's memory (physical memory, or the cgroup's limit when
that is lower); 8 GiB where the memory size cannot be found.

Example:
    >>> parse_size("1.5KiB")
    1536
    >>> budget = MemoryBudget(limit=1024)
    >>> budget.input("data", (16, 32), np.dtype("float32"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mge.serialization.memory_budget.MemoryBudgetError: input 'data' of shape (16, 32) \
float32 needs 2.0 KiB, which exceeds the load memory budget of 1.0 KiB (set the ...)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence

import numpy as np

#: the environment variable that sets the budget (a size: ``8GiB``, ``512MB``, bytes)
BUDGET_ENV = "MGE_LOAD_MEMORY_BUDGET"
#: the budget where the machine's memory size cannot be found
FALLBACK_BUDGET = 8 << 30
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40}


class MemoryBudgetError(ValueError):
    """A model declares more memory than the budget, or the budget setting is not a size."""


_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]i?)?b?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in ``text``: a number with an optional unit (``k``/``M``/``G``/``T``: powers
    of 1000, ``KiB``/``MiB``/``GiB``/``TiB``: powers of 1024; a trailing ``B`` is optional).

    Raises:
        ValueError: ``text`` is not a size.
    """
    m = _SIZE.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a size (e.g. 8GiB, 512MB, 1000000)")
    value = float(m.group(1)) * _UNITS[(m.group(2) or "").lower()]
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite size")
    return int(value)


def format_size(nbytes: float) -> str:
    """``nbytes`` in the largest binary unit that keeps it >= 1 (``1.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.0f} B" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, "rb") as f:  # bytes: a text read costs a codec lookup
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            return int(text)
    return None


def machine_memory() -> int | None:
    """Bytes of memory this process can use: physical memory or the cgroup's lower limit."""
    sizes = []
    try:
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        pass
    limit = _cgroup_limit()
    if limit is not None:
        sizes.append(limit)
    sizes = [s for s in sizes if s > 0]
    return min(sizes) if sizes else None


def resolve_budget(memory_budget: int | str | None = None) -> int:
    """The budget in bytes: ``memory_budget``, else ``$MGE_LOAD_MEMORY_BUDGET``, else half
    of :func:`machine_memory` (8 GiB when unknown).

    Raises:
        MemoryBudgetError: the argument or the environment variable is not a positive size.
    """
    if memory_budget is None:
        text = os.environ.get(BUDGET_ENV, "").strip()
        if not text:
            memory = machine_memory()
            return memory // 2 if memory else FALLBACK_BUDGET
        try:
            value = parse_size(text)
        except ValueError as exc:
            raise MemoryBudgetError(f"{BUDGET_ENV}: {exc}") from None
        what = BUDGET_ENV
    else:
        what = "memory_budget"
        try:
            value = parse_size(memory_budget) if isinstance(memory_budget, str) \
                else memory_budget
        except ValueError as exc:
            raise MemoryBudgetError(f"{what}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise MemoryBudgetError(f"{what} must be a positive number of bytes, got {value!r}")
    return value


def tensor_bytes(shape: Sequence[int], dtype: np.dtype) -> int:
    """Bytes of a tensor of ``shape`` and ``dtype`` (exact, no overflow)."""
    return math.prod(int(d) for d in shape) * dtype.itemsize


class MemoryBudget:
    """Counts what a model being loaded declares; raises once it exceeds ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.fixed = 0  # inputs and constants: held for the whole run
        self.largest = 0  # the largest intermediate result
        self.largest_name = ""

    def _fail(self, what: str, shape: Sequence[int], dtype: np.dtype, size: int,
              context: str) -> MemoryBudgetError:
        return MemoryBudgetError(
            f"{what} of shape {tuple(shape)} {dtype} needs {format_size(size)}, which exceeds "
            f"the load memory budget of {format_size(self.limit)}{context} (set the "
            f"memory_budget argument or {BUDGET_ENV}, e.g. {BUDGET_ENV}=32GiB, to allow "
            "more)")

    def _held(self, what: str, shape: Sequence[int], dtype: np.dtype) -> None:
        size = tensor_bytes(shape, dtype)
        left = self.limit - self.fixed - self.largest
        if size > left:
            context = ""
            if self.fixed + self.largest:
                context = (f" left after {format_size(self.fixed)} of inputs and constants"
                            + (f" and the {format_size(self.largest)} result of "
                               f"{self.largest_name}" if self.largest else ""))
            raise self._fail(what, shape, dtype, size, context)
        self.fixed += size

    def input(self, name: str, shape: Sequence[int], dtype: np.dtype) -> None:
        """Count input ``name`` (held for the whole run)."""
        self._held(f"input {name!r}", shape, dtype)

    def constant(self, name: str | None, shape: Sequence[int], dtype: np.dtype) -> None:
        """Count a constant (held for the whole run)."""
        self._held(f"constant {name!r}" if name else "a constant", shape, dtype)

    def result(self, what: str, shape: Sequence[int], dtype: np.dtype) -> None:
        """Count an operator's output ``what``: it must fit beside the inputs and constants."""
        size = tensor_bytes(shape, dtype)
        if size <= self.largest:
            return
        if size > self.limit - self.fixed:
            context = (f" left after {format_size(self.fixed)} of inputs and constants"
                       if self.fixed else "")
            raise self._fail(what, shape, dtype, size, context)
        self.largest, self.largest_name = size, what


__all__ = [
    "BUDGET_ENV", "FALLBACK_BUDGET", "MemoryBudget", "MemoryBudgetError", "format_size",
    "machine_memory", "parse_size", "resolve_budget", "tensor_bytes",
]
