"""``LiteGlobal`` (process-wide Lite settings) and the ``decryption_func`` decorator.

Example:
    >>> LiteGlobal.get_device_count(LiteDeviceType.LITE_CPU) > 0
    True
    >>> @decryption_func
    ... def xor(in_arr, key_arr, out_arr):
    ...     if out_arr is None:
    ...         return in_arr.size
    ...     out_arr[:] = in_arr ^ key_arr[0]
    ...     return out_arr.size
    >>> LiteGlobal.register_decryption_and_key("xor_doc", xor, [7])
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..device import get_device_count
from ..utils.atomic_file import write_file
from .decryption import REGISTRY
from .persistent_cache import PERSISTENT_CACHE, PersistentCache
from .struct import LOGGER, LiteBackend, LiteDeviceType, LiteError, LiteTypeError

#: ``func(in_arr, key_arr, out_arr)``: with ``out_arr`` None return the output size,
#: else fill ``out_arr`` (uint8 arrays) and return the bytes written
UserDecryption = Callable[[np.ndarray, np.ndarray, Any], int]


class _OutputBuffer(np.ndarray):
    """The ``out_arr`` given to a decryption function: true even when it has several
    elements, so megenginelite's ``if not out_arr:`` size query idiom works."""

    def __bool__(self) -> bool:
        return True


class DecryptionFunction:
    """A user decryption function (``func(in_arr, key_arr, out_arr)``, see
    :func:`decryption_func`) as the registry calls it: ``(data, key) -> bytes``."""

    def __init__(self, func: UserDecryption) -> None:
        if not callable(func):
            raise LiteTypeError(f"decryption_func takes a function, got {type(func).__name__}")
        self.func = func
        self.__wrapped__ = func

    def __call__(self, data: bytes, key: bytes) -> bytes:
        in_arr = np.frombuffer(data, np.uint8)
        key_arr = np.frombuffer(key, np.uint8)
        size = int(self.func(in_arr, key_arr, None))
        out = np.zeros(size, np.uint8).view(_OutputBuffer)
        written = int(self.func(in_arr, key_arr, out))
        return out[:written].view(np.ndarray).tobytes()


def decryption_func(func: UserDecryption) -> DecryptionFunction:
    """Make ``func(in_arr, key_arr, out_arr)`` a decryption method for
    ``LiteGlobal.register_decryption_and_key``.

    ``func`` is called twice per model: with ``out_arr=None`` it returns the decrypted
    size; then with a uint8 ``out_arr`` of that size it fills it and returns the bytes
    written.
    """
    return func if isinstance(func, DecryptionFunction) else DecryptionFunction(func)


def _key_bytes(key: Sequence[int] | bytes) -> bytes:
    try:
        return bytes(key)
    except (TypeError, ValueError):
        raise LiteTypeError("a decryption key is bytes or a list of ints in 0..255") from None


class LiteGlobal:
    """Process-wide Lite settings (MegEngine's static methods)."""

    @staticmethod
    def register_decryption_and_key(decryption_name: str, decryption_func: Any,
                                    key: Sequence[int] | bytes) -> None:
        """Register a decryption method: its name (as ``bare_model_cryption_name`` or a
        packed model's method names use it), function (see :func:`decryption_func`;
        undecorated functions are wrapped) and key.

        Raises:
            LiteError: the name is already registered.
        """
        func = decryption_func if isinstance(decryption_func, DecryptionFunction) else \
            DecryptionFunction(decryption_func)
        REGISTRY.register(str(decryption_name), func, _key_bytes(key))

    @staticmethod
    def update_decryption_key(decryption_name: str, key: Sequence[int] | bytes) -> None:
        """Replace the key of a registered method (an empty key changes nothing)."""
        REGISTRY.update(str(decryption_name), None, _key_bytes(key))

    @staticmethod
    def set_loader_lib_path(path: str) -> None:
        """Record a MegEngine extern-C-operator loader library.

        mge.lite cannot run MegEngine's extern C operators: models that use them fail to
        load with an error naming the operator; this records the path and says so.
        """
        if not os.path.exists(path):
            raise LiteError(f"failed to open c opr lib {path}: no such file")
        LOGGER.warning("set_loader_lib_path(%s): mge.lite does not run extern C operators; "
                       "models that use them will not load", path)
        LiteGlobal._loader_lib_path = path

    _loader_lib_path: str | None = None
    _cache_path: str | None = None

    @staticmethod
    def set_persistent_cache(path: str, always_sync: bool = False) -> None:
        """Use the fast-run cache in ``path`` (read if it exists), replacing the
        process's cache: with ``always_sync`` it is written back after each change
        (a fast-run selection, a packed model's cache).

        mge's fast-run (``LiteNetwork.set_network_algo_policy(LITE_ALGO_PROFILE)``) keeps
        its plan backend choices in it; MegEngine's kernel entries are kept and written
        back unchanged.

        Raises:
            LiteValueError: the file is not a persistent cache (the message names it and
                says where it is malformed); the process's cache is left as it was.
        """
        cache = PersistentCache()
        if os.path.exists(path):
            with open(path, "rb") as f:
                cache = PersistentCache.from_bytes(f.read(), path)
        PERSISTENT_CACHE.replace(cache)
        LiteGlobal._cache_path = path if always_sync else None

    @staticmethod
    def dump_persistent_cache(path: str) -> None:
        """Write the process's fast-run cache to ``path`` (MegEngine's format),
        atomically: a reader sees the old file or the new one, never a part."""
        write_file(path, PERSISTENT_CACHE.to_bytes())

    @staticmethod
    def set_tensorrt_cache(path: str) -> None:
        """TensorRT engines are not used by mge (as a MegEngine build without TensorRT)."""
        raise LiteError("TensorRT is disable at compile time.")

    @staticmethod
    def dump_tensorrt_cache() -> None:
        """TensorRT engines are not used by mge (as a MegEngine build without TensorRT)."""
        raise LiteError("TensorRT is disable at compile time.")

    @staticmethod
    def get_device_count(device_type: LiteDeviceType) -> int:
        """How many devices of ``device_type`` this process can use (CPU: cores)."""
        kind = LiteDeviceType(device_type)
        if kind == LiteDeviceType.LITE_CPU:
            return os.cpu_count() or 1
        if kind == LiteDeviceType.LITE_CUDA:
            return get_device_count("gpu")
        return 0

    @staticmethod
    def try_coalesce_all_free_memory() -> None:
        """Release cached memory: collect garbage, and empty torch's CUDA cache if torch
        is in use."""
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    @staticmethod
    def register_memory_pair(vir_ptr: Any, phy_ptr: Any, length: int, device: Any,
                             backend: LiteBackend = LiteBackend.LITE_DEFAULT) -> None:
        """Physical/virtual address pairs exist on AX NPUs only (not supported)."""
        raise LiteError("register_memory_pair is not implement yet!")

    @staticmethod
    def clear_memory_pair(vir_ptr: Any, phy_ptr: Any, device: Any,
                          backend: LiteBackend = LiteBackend.LITE_DEFAULT) -> None:
        """Physical/virtual address pairs exist on AX NPUs only (not supported)."""
        raise LiteError("clear_memory_pair is not implement yet!")

    @staticmethod
    def lookup_physic_ptr(vir_ptr: Any, device: Any,
                          backend: LiteBackend = LiteBackend.LITE_DEFAULT) -> Any:
        """Physical/virtual address pairs exist on AX NPUs only (not supported)."""
        raise LiteError("lookup_physic_ptr is not implement yet!")


def sync_persistent_cache() -> None:
    """Write the cache back to the file ``set_persistent_cache(always_sync=True)`` named."""
    if LiteGlobal._cache_path is not None:
        LiteGlobal.dump_persistent_cache(LiteGlobal._cache_path)


__all__ = ["DecryptionFunction", "LiteGlobal", "decryption_func", "sync_persistent_cache"]
