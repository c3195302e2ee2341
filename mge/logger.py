"""Loggers (MegEngine's ``megengine.logger``): ``get_logger`` gives a :mod:`logging` logger
that writes ``[day time line@file:name] LEVEL message`` to stderr (and to the file set by
``set_log_file``), at the level ``set_log_level`` sets for every such logger
(default: ``$MEGENGINE_LOGGING_LEVEL``, else ``INFO``).

Example:
    >>> import logging, mge
    >>> log = mge.get_logger("demo")
    >>> log.level == logging.getLevelName(mge.logger.DEFAULT_LEVEL_NAME)
    True
"""

from __future__ import annotations

import logging
import os
from typing import IO, Any

DEFAULT_LEVEL_NAME = os.getenv("MEGENGINE_LOGGING_LEVEL", "INFO").upper()
_level: Any = logging.getLevelName(DEFAULT_LEVEL_NAME)
_loggers: list[logging.Logger] = []
_log_file: IO[str] | None = None


class _Formatter(logging.Formatter):
    """MegEngine's layout; records also go to the file of ``set_log_file``."""

    def __init__(self, datefmt: str | None = None) -> None:
        super().__init__("[%(asctime)s %(lineno)d@%(filename)s:%(name)s] %(levelname)s "
                         "%(message)s", datefmt=datefmt)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if _log_file is not None:
            _log_file.write(text + "\n")
            _log_file.flush()
        return text


def get_logger(name: str | None = None, formatter: type[logging.Formatter] = _Formatter
               ) -> logging.Logger:
    """The logger ``name``, set up once: not propagating, one stderr handler."""
    logger = logging.getLogger(name)
    if getattr(logger, "_mge_init_done", False):
        return logger
    logger._mge_init_done = True  # type: ignore[attr-defined]
    logger.propagate = False
    logger.setLevel(_level)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(datefmt="%d %H:%M:%S"))
    logger.handlers[:] = [handler]
    _loggers.append(logger)
    return logger


def set_log_level(level: int | str, update_existing: bool = True) -> Any:
    """Set the level of loggers made from now on (and of existing ones); returns the
    previous level."""
    global _level
    previous, _level = _level, level
    if update_existing:
        for logger in _loggers:
            logger.setLevel(level)
    return previous


def set_log_file(fout: str | IO[str] | None, mode: str = "a") -> None:
    """Also write every record to ``fout`` (a file name, opened with ``mode``, or a file;
    ``None``: no more)."""
    global _log_file
    _log_file = open(fout, mode) if isinstance(fout, str) else fout  # noqa: SIM115


def enable_debug_log() -> None:
    """Log everything (level ``DEBUG``)."""
    set_log_level(logging.DEBUG)


__all__ = ["enable_debug_log", "get_logger", "set_log_file", "set_log_level"]
