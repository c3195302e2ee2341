"""The megenginelite enums, with MegEngine's member names and values, and Lite's errors.

Every member is also reachable without its ``LITE_`` prefix (``LiteDeviceType.CUDA`` is
``LiteDeviceType.LITE_CUDA``).

Example:
    >>> LiteDeviceType.CUDA is LiteDeviceType.LITE_CUDA, int(LiteDataType.LITE_HALF)
    (True, 1)
"""

from __future__ import annotations

import logging
from enum import IntEnum


class LiteBackend(IntEnum):
    """The inference backend (MegEngine has one)."""

    LITE_DEFAULT = 0
    DEFAULT = 0


class LiteDeviceType(IntEnum):
    """Where a network computes."""

    LITE_CPU = 0
    LITE_CUDA = 1
    LITE_ATLAS = 3
    LITE_NPU = 4
    LITE_CAMBRICON = 5
    LITE_DEVICE_DEFAULT = 7
    CPU = 0
    CUDA = 1
    ATLAS = 3
    NPU = 4
    CAMBRICON = 5
    DEVICE_DEFAULT = 7


class LiteDataType(IntEnum):
    """Tensor element types (``LITE_HALF`` is float16, ``LITE_INT`` is int32)."""

    LITE_FLOAT = 0
    LITE_HALF = 1
    LITE_INT = 2
    LITE_INT16 = 3
    LITE_INT8 = 4
    LITE_UINT8 = 5
    LITE_UINT16 = 6
    FLOAT = 0
    HALF = 1
    INT = 2
    INT16 = 3
    INT8 = 4
    UINT8 = 5
    UINT16 = 6


class LiteTensorPhase(IntEnum):
    """Which IO tensor a name means: input, output, or either (inputs first)."""

    LITE_IO = 0
    LITE_INPUT = 1
    LITE_OUTPUT = 2
    IO = 0
    INPUT = 1
    OUTPUT = 2


class LiteIOType(IntEnum):
    """Whether an IO carries values or only its shape."""

    LITE_IO_VALUE = 0
    LITE_IO_SHAPE = 1
    IO_VALUE = 0
    IO_SHAPE = 1


class LiteAlgoSelectStrategy(IntEnum):
    """Kernel selection strategies (flags; combinable with ``|``)."""

    LITE_ALGO_HEURISTIC = 1
    LITE_ALGO_PROFILE = 2
    LITE_ALGO_REPRODUCIBLE = 4
    LITE_ALGO_OPTIMIZED = 8
    ALGO_HEURISTIC = 1
    ALGO_PROFILE = 2
    ALGO_REPRODUCIBLE = 4
    ALGO_OPTIMIZED = 8


class LiteLogLevel(IntEnum):
    """Log levels of ``set_log_level``."""

    DEBUG = 0
    INFO = 1
    WARN = 2
    ERROR = 3


class LiteError(RuntimeError):
    """An error from the Lite runtime (MegEngine's Lite raises ``RuntimeError``)."""


class LiteValueError(LiteError, ValueError):
    """A bad value: wrong shape, unknown name, non-contiguous data, not a model."""


class LiteTypeError(LiteError, TypeError):
    """A bad dtype or argument type."""


LOGGER = logging.getLogger("mge.lite")
_LEVELS = {LiteLogLevel.DEBUG: logging.DEBUG, LiteLogLevel.INFO: logging.INFO,
           LiteLogLevel.WARN: logging.WARNING, LiteLogLevel.ERROR: logging.ERROR}


def set_log_level(level: int) -> None:
    """Set the level of the ``mge.lite`` logger (a ``LiteLogLevel``)."""
    LOGGER.setLevel(_LEVELS[LiteLogLevel(level)])


def get_log_level() -> LiteLogLevel:
    """The current ``LiteLogLevel`` of the ``mge.lite`` logger."""
    level = LOGGER.getEffectiveLevel()
    return max((k for k, v in _LEVELS.items() if v <= level), default=LiteLogLevel.DEBUG)


__all__ = [
    "LiteAlgoSelectStrategy",
    "LiteBackend",
    "LiteDataType",
    "LiteDeviceType",
    "LiteError",
    "LiteIOType",
    "LiteLogLevel",
    "LiteTensorPhase",
    "LiteTypeError",
    "LiteValueError",
    "get_log_level",
    "set_log_level",
]
