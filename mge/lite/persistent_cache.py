"""MegEngine's fast-run persistent cache: its file format, read, merged and written back.

MegEngine records the kernel (algorithm) each operator chose by profiling in a
"persistent cache" (``InFilePersistentCache``): ``u32`` category count, then per
category its name (``u32`` length + bytes) and its entries (``u32`` count, each a key
and a value blob, ``u32`` length + bytes); little-endian.

mge's plan backends choose their kernels themselves and do not consult MegEngine's
entries: they are kept so that a cache set with ``LiteGlobal.set_persistent_cache`` or
carried by a packed model is validated and written back unchanged by
``LiteGlobal.dump_persistent_cache``. mge's own fast-run (the plan backend chosen by
timing, :mod:`mge.runtime.fast_run`) keeps its choices in a category of its own.

Example:
    >>> cache = PersistentCache()
    >>> cache.merge(PersistentCache.from_bytes(PersistentCache().to_bytes()))
    >>> len(cache)
    0
"""

from __future__ import annotations

import struct
import threading

from .struct import LiteValueError

_U32 = struct.Struct("<I")


class PersistentCache:
    """Categories of key -> value blobs, in MegEngine's persistent-cache format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.categories: dict[bytes, dict[bytes, bytes]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self.categories.values())

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<cache>") -> PersistentCache:
        """Parse a cache; ``LiteValueError`` names ``source`` if it is malformed."""
        cache = cls()
        pos = 0

        def take(n: int, what: str) -> bytes:
            nonlocal pos
            if pos + n > len(data):
                raise LiteValueError(f"{source}: persistent cache truncated in {what} "
                                     f"(needs {n} bytes at offset {pos}, has {len(data)})")
            pos += n
            return bytes(data[pos - n:pos])

        def blob(what: str) -> bytes:
            return take(_U32.unpack(take(4, what))[0], what)

        for _ in range(_U32.unpack(take(4, "the category count"))[0]):
            name = blob("a category name")
            entries = cache.categories.setdefault(name, {})
            for _ in range(_U32.unpack(take(4, "an entry count"))[0]):
                key = blob("a key")
                entries[key] = blob("a value")
        if pos != len(data):
            raise LiteValueError(f"{source}: {len(data) - pos} bytes after the persistent "
                                 "cache's last category")
        return cache

    def to_bytes(self) -> bytes:
        """The cache in MegEngine's format."""
        with self._lock:
            parts = [_U32.pack(len(self.categories))]
            for name, entries in self.categories.items():
                parts += [_U32.pack(len(name)), name, _U32.pack(len(entries))]
                for key, value in entries.items():
                    parts += [_U32.pack(len(key)), key, _U32.pack(len(value)), value]
        return b"".join(parts)

    def category(self, name: bytes) -> dict[bytes, bytes]:
        """The entries of category ``name`` (made empty when missing)."""
        with self._lock:
            return self.categories.setdefault(name, {})

    def replace(self, other: PersistentCache) -> None:
        """Drop every entry and take ``other``'s."""
        with self._lock:
            self.categories = {k: dict(v) for k, v in other.categories.items()}

    def merge(self, other: PersistentCache) -> None:
        """Add ``other``'s entries (its values win)."""
        with self._lock:
            for name, entries in other.categories.items():
                self.categories.setdefault(name, {}).update(entries)


#: the process-wide cache (``LiteGlobal.set_persistent_cache``, packed models' caches)
PERSISTENT_CACHE = PersistentCache()

__all__ = ["PERSISTENT_CACHE", "PersistentCache"]
