"""Execution settings (MegEngine's ``megengine.config``).

mge executes eagerly in one thread, so ``async_level``, the kernel-selection switches
(``benchmark_kernel``, ``deterministic_kernel``, ``benchmark_with_subprocess``) and
``disable_memory_forwarding`` are recorded for code that sets and reads them and change
no result. ``_compute_mode`` (``"default"`` or ``"float32"``) is the compute mode the
convolutions use when called with ``compute_mode="default"``. ``_override`` sets them for
the duration of a ``with`` block.

Example:
    >>> import mge
    >>> with mge.config._override(compute_mode="float32"):
    ...     mge.config._compute_mode
    'float32'
    >>> mge.config._compute_mode
    'default'
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

benchmark_kernel: bool = False
deterministic_kernel: bool = False
benchmark_with_subprocess: bool = False
async_level: int = 2
disable_memory_forwarding: bool = False
_compute_mode: str = "default"
_auto_format_convert: bool = True


def actual_compute_mode(compute_mode: str) -> str:
    """``compute_mode`` of a call, or the configured one when the call says ``"default"``."""
    name = getattr(compute_mode, "name", compute_mode)
    return _compute_mode if str(name).lower() == "default" else compute_mode


@contextmanager
def _override(benchmark_kernel: bool | None = None, deterministic_kernel: bool | None = None,
              async_level: int | None = None, compute_mode: str | None = None
              ) -> Iterator[None]:
    """Set the given settings inside the ``with`` block and restore them after it."""
    if async_level is not None and async_level not in (0, 1, 2):
        raise ValueError(f"async_level should be 0, 1 or 2, got {async_level!r}")
    settings = {"benchmark_kernel": benchmark_kernel, "deterministic_kernel":
                deterministic_kernel, "async_level": async_level, "_compute_mode": compute_mode}
    saved = {name: globals()[name] for name in settings}
    globals().update({k: v for k, v in settings.items() if v is not None})
    try:
        yield
    finally:
        globals().update(saved)


class _ConfigModule(types.ModuleType):
    """This module's class: setting ``async_level`` to a value MegEngine refuses raises
    the ``AssertionError`` MegEngine raises."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "async_level" and value not in (0, 1, 2):
            raise AssertionError(f"async_level should be 0, 1 or 2, got {value!r}")
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ConfigModule

__all__ = [
    "async_level", "benchmark_kernel", "benchmark_with_subprocess", "deterministic_kernel",
    "disable_memory_forwarding",
]
