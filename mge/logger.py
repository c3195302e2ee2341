"""Loggers as MegEngine's ``megengine.logger`` hands them out.

``get_logger(name)`` returns a standard ``logging.Logger`` with one stream handler
(``[date lineno@file:name] message`` formatting); ``set_log_level`` changes the level of
every logger made here (and of later ones); ``set_log_file`` also copies records to a file.
The start level comes from ``MEGENGINE_LOGGING_LEVEL`` (default ``INFO``).
``set_mgb_log_level``/``replace_mgb_log_level`` address MegEngine's C++ log, which mge does
not have: they keep and return the level so code that saves and restores it works.

Example:
    >>> import logging
    >>> log = get_logger("mge.example")
    >>> old = set_log_level(logging.WARNING)
    >>> log.getEffectiveLevel() == logging.WARNING
    True
    >>> _ = set_log_level(old)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

_loggers: list[logging.Logger] = []
_level: int | str = logging.getLevelName(
    os.getenv("MEGENGINE_LOGGING_LEVEL", "INFO").upper())
_mgb_level: int = logging.ERROR


#: MegEngine's level tags (INFO has none)
_LEVEL_TAGS = {logging.DEBUG: "DBG ", logging.WARNING: "WRN ", logging.ERROR: "ERR "}


class MegEngineLogFormatter(logging.Formatter):
    """``[date lineno@file:name] TAG message`` (``TAG``: MegEngine's ``DBG``/``WRN``/``ERR``,
    none for INFO); ``log_fout`` (set by :func:`set_log_file`) receives every formatted
    record too."""

    log_fout: IO[str] | None = None

    def __init__(self) -> None:
        super().__init__(
            "[%(asctime)s %(lineno)d@%(filename)s:%(name)s] %(mge_tag)s%(message)s",
            datefmt="%m%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        record.mge_tag = _LEVEL_TAGS.get(record.levelno, "")
        text = super().format(record)
        if self.log_fout is not None:
            self.log_fout.write(text + "\n")
            self.log_fout.flush()
        return text


def set_log_file(fout: str | IO[str], mode: str = "a") -> None:
    """Also write log records to ``fout`` (a path, opened with ``mode``, or a file)."""
    MegEngineLogFormatter.log_fout = open(fout, mode) if isinstance(fout, str) else fout  # noqa: SIM115


def get_logger(name: str | None = None, formatter: Any = MegEngineLogFormatter
               ) -> logging.Logger:
    """The logger ``name`` with MegEngine's formatting, at the current default level."""
    logger = logging.getLogger(name)
    if getattr(logger, "_mge_configured", False):
        return logger
    handler = logging.StreamHandler()
    handler.setFormatter(formatter())
    logger.addHandler(handler)
    logger.setLevel(_level)
    logger.propagate = False
    logger._mge_configured = True  # type: ignore[attr-defined]
    _loggers.append(logger)
    return logger


def set_log_level(level: int | str, update_existing: bool = True) -> int | str:
    """Make ``level`` the default of the loggers made here (all of them unless
    ``update_existing=False``); returns the previous default."""
    global _level
    old, _level = _level, level
    if update_existing:
        for logger in _loggers:
            logger.setLevel(level)
    return old


def set_mgb_log_level(level: int) -> int:
    """Record the level of MegEngine's C++ log (mge has none); returns the previous one."""
    global _mgb_level
    old, _mgb_level = _mgb_level, level
    return old


@contextmanager
def replace_mgb_log_level(level: int) -> Iterator[None]:
    """``set_mgb_log_level(level)`` inside the ``with`` block, restored after it."""
    old = set_mgb_log_level(level)
    try:
        yield
    finally:
        set_mgb_log_level(old)


def enable_debug_log() -> None:
    """Log everything at DEBUG level."""
    set_log_level(logging.DEBUG)
    set_mgb_log_level(logging.DEBUG)


__all__ = ["MegEngineLogFormatter", "enable_debug_log", "get_logger", "replace_mgb_log_level",
           "set_log_file", "set_log_level", "set_mgb_log_level"]
