"""Lite's registry of model decryption methods, with its three built-in methods.

A method is a name, a function ``decrypt(data: bytes, key: bytes) -> bytes`` and a key.
Built in, as in MegEngine Lite 1.13:

* ``AES_default``: AES-256-CBC (through the ``cryptography`` library); the data is the
  16-byte IV, the ciphertext, and the plain length as an 8-byte big-endian integer (the
  layout of Lite's ``aes_encrypt.sh``); key ``00 01 .. 1f``;
* ``RC4_default`` and ``SIMPLE_FAST_RC4_default``: Lite's own RC4 ciphers (:mod:`.rc4`).

``NONE`` means "not encrypted". User methods are added with
``LiteGlobal.register_decryption_and_key`` and their key changed with
``LiteGlobal.update_decryption_key``; the registry is shared by all threads.

Example:
    >>> decrypt("NONE", b"abc")
    b'abc'
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from .rc4 import DEFAULT_KEY as RC4_KEY
from .rc4 import rc4_decrypt, simple_fast_rc4_decrypt
from .struct import LiteError, LiteValueError

#: ``decrypt(data, key) -> plain bytes``
Decrypt = Callable[[bytes, bytes], bytes]

#: Lite's built-in AES-256 key
AES_KEY = bytes(range(32))
_AES_TRAILER = 8  # big-endian plain length after the ciphertext


def aes_decrypt(data: bytes, key: bytes = AES_KEY) -> bytes:
    """Decrypt Lite's AES layout: IV (16 bytes) + AES-256-CBC ciphertext + length (8 bytes)."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        raise LiteError("AES-encrypted models need the 'cryptography' package "
                        "(pip install 'mge[crypto]')") from None
    body = len(data) - 16 - _AES_TRAILER
    if body < 0 or body % 16:
        raise LiteValueError(f"AES_default: {len(data)} bytes is not IV + whole 16-byte "
                             "blocks + an 8-byte length")
    length = int.from_bytes(data[-_AES_TRAILER:], "big")
    if length > body:
        raise LiteValueError(f"AES_default: the stored length {length} exceeds the "
                             f"{body} decrypted bytes (wrong key or not AES data)")
    if len(key) != 32:
        raise LiteValueError(f"AES_default takes a 32-byte key, got {len(key)} bytes")
    decryptor = Cipher(algorithms.AES(bytes(key)), modes.CBC(bytes(data[:16]))).decryptor()
    plain = decryptor.update(bytes(data[16:16 + body])) + decryptor.finalize()
    return plain[:length]


def aes_encrypt(data: bytes, key: bytes = AES_KEY, iv: bytes | None = None) -> bytes:
    """Encrypt ``data`` in Lite's AES layout (zero padding, as ``aes_encrypt.sh``)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = os.urandom(16) if iv is None else iv
    padded = bytes(data) + bytes(-len(data) % 16)
    encryptor = Cipher(algorithms.AES(bytes(key)), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padded) + encryptor.finalize() + len(data).to_bytes(8, "big")


class _Registry:
    """The process-wide name -> (function, key) table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._methods: dict[str, tuple[Decrypt, bytes]] = {
            "AES_default": (aes_decrypt, AES_KEY),
            "RC4_default": (rc4_decrypt, RC4_KEY),
            "SIMPLE_FAST_RC4_default": (simple_fast_rc4_decrypt, RC4_KEY),
        }

    def register(self, name: str, func: Decrypt, key: bytes) -> None:
        with self._lock:
            if name in self._methods:
                raise LiteError(f"The decryption method {name} is already registered.")
            self._methods[name] = (func, bytes(key))

    def update(self, name: str, func: Decrypt | None, key: bytes) -> None:
        with self._lock:
            if name not in self._methods:
                raise LiteError(f"The decryption method {name} is not registered.")
            old_func, old_key = self._methods[name]
            self._methods[name] = (func or old_func, bytes(key) if len(key) else old_key)

    def lookup(self, name: str) -> tuple[Decrypt, bytes]:
        with self._lock:
            found = self._methods.get(name)
            known = sorted(self._methods)
        if found is None:
            raise LiteValueError(f"The decryption method {name} is not registered "
                                 f"(known: {', '.join(known)})")
        return found


REGISTRY = _Registry()


def decrypt(name: str, data: bytes) -> bytes:
    """``data`` decrypted with the registered method ``name`` (``NONE``: unchanged)."""
    if name == "NONE":
        return bytes(data)
    func, key = REGISTRY.lookup(name)
    try:
        return bytes(func(bytes(data), key))
    except LiteError:
        raise
    except ValueError as exc:
        raise LiteValueError(f"decryption with {name} failed: {exc}") from None


__all__ = ["AES_KEY", "REGISTRY", "Decrypt", "aes_decrypt", "aes_encrypt", "decrypt"]
