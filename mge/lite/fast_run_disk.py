"""fast-run's choices on disk by default: ``$MGE_HOME/lite/fast_run.cache``.

A process that syncs no persistent cache file of its own
(``LiteGlobal.set_persistent_cache(path, always_sync=True)``) still keeps fast-run's
plan backend choices across processes: before a selection the fast-run entries of this
file join the process's persistent cache (entries already in the process win), and
after a new choice the category is written back (merged with what other processes
wrote meanwhile, atomically). Only mge's fast-run category is kept there; the file is
in MegEngine's persistent-cache format.

``MGE_FAST_RUN_CACHE`` overrides the path; set to ``""`` or ``"0"`` it turns the file
off (the choices then live in the process only).

Example:
    >>> import os
    >>> os.environ["MGE_FAST_RUN_CACHE"] = "/tmp/mge-fast-run.cache"
    >>> default_cache_path()
    '/tmp/mge-fast-run.cache'
    >>> del os.environ["MGE_FAST_RUN_CACHE"]
"""

from __future__ import annotations

import logging
import os

from ..runtime.fast_run import CACHE_CATEGORY
from ..utils.atomic_file import write_file
from .global_setting import LiteGlobal
from .persistent_cache import PERSISTENT_CACHE, PersistentCache
from .struct import LiteValueError

LOGGER = logging.getLogger("mge.lite")
#: the environment variable naming the file ("" or "0": no file)
ENV_PATH = "MGE_FAST_RUN_CACHE"


def default_cache_path() -> str | None:
    """The file fast-run's choices are kept in (``None``: turned off, or the process
    syncs a persistent cache file of its own)."""
    if LiteGlobal._cache_path is not None:
        return None
    from ..hub.hub import overridable_cache_path

    return overridable_cache_path(ENV_PATH, "lite", "fast_run.cache")


def _read(path: str) -> dict[bytes, bytes]:
    """The fast-run entries of the file (empty when it is missing or unreadable)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        LOGGER.warning("fast-run: cannot read the cache file %s (%s)", path, exc)
        return {}
    try:
        return PersistentCache.from_bytes(data, path).categories.get(CACHE_CATEGORY, {})
    except LiteValueError as exc:
        LOGGER.warning("fast-run: ignoring the cache file (%s); it will be rewritten", exc)
        return {}


def load_choices() -> None:
    """Add the file's choices to the process's cache (the process's entries win)."""
    path = default_cache_path()
    if path is None:
        return
    entries = _read(path)
    if entries:
        store = PERSISTENT_CACHE.category(CACHE_CATEGORY)
        for key, value in entries.items():
            store.setdefault(key, value)


def save_choices() -> None:
    """Write the process's fast-run choices to the file (merged with the file's)."""
    path = default_cache_path()
    if path is None:
        return
    cache = PersistentCache()
    cache.categories[CACHE_CATEGORY] = {**_read(path),
                                        **PERSISTENT_CACHE.category(CACHE_CATEGORY)}
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        write_file(path, cache.to_bytes())
    except OSError as exc:
        LOGGER.warning("fast-run: cannot write the cache file %s (%s)", path, exc)


__all__ = ["ENV_PATH", "default_cache_path", "load_choices", "save_choices"]
