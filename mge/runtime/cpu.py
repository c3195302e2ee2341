"""CPU facts the runtime decides on: instruction-set flags and BLAS thread control.

Example:
    >>> reduced_precision_dtype() in (None, "bfloat16", "float16")
    True
    >>> set(reduced_precision_dtypes()) <= {"bfloat16", "float16"}
    True
    >>> with blas_threads(1):
    ...     pass
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections.abc import Iterator


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``/proc/cpuinfo``; empty where that is not available)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def reduced_precision_dtypes() -> tuple[str, ...]:
    """Every 16-bit float type this CPU has units for: ``"float16"`` (AMX-FP16 or
    AVX512-FP16), then ``"bfloat16"`` (AMX-BF16 or AVX512-BF16)."""
    flags = cpu_flags()
    found = []
    if flags & {"amx_fp16", "avx512_fp16"}:
        found.append("float16")
    if flags & {"amx_bf16", "avx512_bf16"}:
        found.append("bfloat16")
    return tuple(found)


def reduced_precision_dtype() -> str | None:
    """The 16-bit float type this CPU computes fast, if any.

    ``"float16"`` with AMX-FP16 or AVX512-FP16 units, else ``"bfloat16"`` with AMX-BF16
    or AVX512-BF16 units, else ``None``.
    """
    found = reduced_precision_dtypes()
    return found[0] if found else None


@functools.cache
def _openblas_setters() -> tuple[ctypes._CFuncPtr, ctypes._CFuncPtr] | None:
    """``(set_num_threads, get_num_threads)`` of the OpenBLAS numpy loaded, if found."""
    import numpy  # noqa: F401  (loads its BLAS)

    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        if not os.path.exists(path):
            continue
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", ""),
                               ("scipy_openblas", "")):
            try:
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}")
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}")
            except AttributeError:
                continue
            setter.argtypes, setter.restype = [ctypes.c_int], None
            getter.argtypes, getter.restype = [], ctypes.c_int
            return setter, getter
    return None


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run numpy's BLAS (OpenBLAS) with ``n`` threads inside the block.

    A no-op when ``n`` is ``None`` or the BLAS library offers no thread control.
    """
    funcs = _openblas_setters() if n is not None else None
    if funcs is None:
        yield
        return
    setter, getter = funcs
    before = getter()
    if before == n:
        yield
        return
    setter(n)
    try:
        yield
    finally:
        setter(before)


__all__ = ["blas_threads", "cpu_flags", "reduced_precision_dtype", "reduced_precision_dtypes"]
