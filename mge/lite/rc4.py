"""MegEngine Lite's two RC4-based model ciphers: ``RC4_default`` and ``SIMPLE_FAST_RC4_default``.

Lite's "RC4" is its own construction, not textbook RC4, so no cryptography library
implements it and it is written out here (MegEngine 1.13, ``lite/src/decryption/rc4``):

* the byte stream: RC4's key schedule over the 8 bytes of a 64-bit key (little-endian,
  repeated), then 768 bytes dropped plus as many more as the next byte says; each output
  byte is RC4+'s (``(S[a+b] + S[c ^ 0xAA]) ^ S[j+b]`` with
  ``c = S[(i<<5 ^ j>>3)] + S[(j<<5 ^ i>>3)]``), not RC4's ``S[a+b]``;
* a 64-bit "fast hash" over little-endian 64-bit words (fast-hash's mixing step);
* ``RC4_default``: the body (zero-padded to 8 bytes) is XORed with a stream keyed by its
  own plain hash, then with a stream keyed by the encryption key; an 8-byte protected
  hash (plain hash ^ hash of the obfuscated body ^ next stream word) is appended;
* ``SIMPLE_FAST_RC4_default``: the padded body XORed with the key's stream, then the
  hash of the result appended (checked on decryption).

The key is 16 bytes or more: the hash key and the encryption key, two little-endian
uint64 (Lite's built-in key is :data:`DEFAULT_KEY`). Decryption returns the padded body
(the original bytes followed by up to 7 zero bytes).

The stream is sequential by nature; this pure-Python generator runs at about 1 us a
byte (a 9 MB model takes ~20 s to decrypt with ``RC4_default``, which needs two streams).

Example:
    >>> secret = rc4_encrypt(b"model bytes")
    >>> rc4_decrypt(secret)[:11]
    b'model bytes'
"""

from __future__ import annotations

import numpy as np

_MASK64 = (1 << 64) - 1


def _u64(byte_at: dict[int, int]) -> int:
    """A little-endian uint64 given as {byte index: value} (how Lite's source spells them)."""
    return int.from_bytes(bytes(byte_at[i] for i in range(8)), "little")


_HASH_KEY = _u64({2: 101, 5: 102, 4: 103, 7: 104, 1: 105, 3: 106, 6: 107, 0: 108})
_ENC_KEY = _u64({4: 120, 3: 121, 7: 122, 6: 123, 0: 124, 5: 125, 2: 126, 1: 127})
_MUL0 = _u64({2: 50, 3: 244, 6: 39, 1: 92, 5: 89, 4: 155, 0: 55, 7: 33})
_MUL1 = _u64({6: 3, 2: 109, 7: 136, 1: 25, 5: 85, 0: 101, 4: 242, 3: 30})

#: Lite's built-in key of both RC4 methods: hash key, encryption key, zeros (128 bytes)
DEFAULT_KEY = (_HASH_KEY.to_bytes(8, "little") + _ENC_KEY.to_bytes(8, "little")
               + bytes(112))

_SHL5 = [(x << 5) & 0xFF for x in range(256)]
_SHR3 = [x >> 3 for x in range(256)]


def keystream(key: int, nbytes: int) -> bytes:
    """``nbytes`` bytes of Lite's RC4 stream keyed by the 64-bit ``key``."""
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + ((key >> ((i % 8) * 8)) & 0xFF)) & 0xFF
        s[i], s[j] = s[j], s[i]
    shl5, shr3 = _SHL5, _SHR3
    out = bytearray(nbytes + 768 + 256)
    i = j = 0
    n = 768 + 1
    k = 0
    skip = -1
    while k < n:
        i = (i + 1) & 0xFF
        a = s[i]
        j = (j + a) & 0xFF
        b = s[j]
        s[i] = b
        s[j] = a
        c = (s[shl5[i] ^ shr3[j]] + s[shl5[j] ^ shr3[i]]) & 0xFF
        out[k] = ((s[(a + b) & 0xFF] + s[c ^ 0xAA]) ^ s[(j + b) & 0xFF]) & 0xFF
        k += 1
        if skip < 0 and k == 769:  # the byte after the 768 dropped ones: how many more
            skip = out[768]
            n = 769 + skip + nbytes
    return bytes(out[769 + skip:n])


def fast_hash64(words: np.ndarray, seed: int) -> int:
    """Lite's 64-bit fast hash of little-endian uint64 ``words``, seeded with ``seed``."""
    v = words.astype(np.uint64)
    with np.errstate(over="ignore"):
        v ^= v >> np.uint64(23)
        v *= np.uint64(_MUL0)
        v ^= v >> np.uint64(47)
    h = seed & _MASK64
    mul1 = _MUL1
    for x in v.tolist():  # sequential: each step multiplies the running hash
        h = ((h ^ x) * mul1) & _MASK64
    return h


def _keys(key: bytes) -> tuple[int, int]:
    if len(key) < 16:
        raise ValueError(f"a Lite RC4 key has at least 16 bytes (hash key, encryption key), "
                         f"got {len(key)}")
    return int.from_bytes(key[:8], "little"), int.from_bytes(key[8:16], "little")


def _words(data: bytes) -> np.ndarray:
    padded = bytes(data) + bytes(-len(data) % 8)
    return np.frombuffer(padded, "<u8")


def _split(data: bytes, method: str) -> tuple[np.ndarray, int]:
    if len(data) < 8 or len(data) % 8:
        raise ValueError(f"{method}: encrypted data must be a positive multiple of 8 bytes "
                         f"(padded body + 8-byte hash), got {len(data)} bytes")
    words = np.frombuffer(bytes(data), "<u8")
    return words[:-1], int(words[-1])


def _xor(words: np.ndarray, stream: bytes) -> np.ndarray:
    return words ^ np.frombuffer(stream, "<u8", len(words))


def rc4_encrypt(data: bytes, key: bytes = DEFAULT_KEY) -> bytes:
    """Encrypt ``data`` as Lite's ``RC4_default`` method (Lite's ``RC4::encrypt_model``)."""
    hash_key, enc_key = _keys(key)
    words = _words(data)
    plain_hash = fast_hash64(words, hash_key)
    obfuscated = _xor(words, keystream(plain_hash, 8 * len(words)))
    outer = np.frombuffer(keystream(enc_key, 8 * len(words) + 8), "<u8")
    protected = plain_hash ^ fast_hash64(obfuscated, hash_key) ^ int(outer[-1])
    return (obfuscated ^ outer[:-1]).astype("<u8").tobytes() + protected.to_bytes(8, "little")


def rc4_decrypt(data: bytes, key: bytes = DEFAULT_KEY) -> bytes:
    """Decrypt Lite's ``RC4_default`` data (the padded body, without the hash)."""
    hash_key, enc_key = _keys(key)
    body, protected = _split(data, "RC4_default")
    outer = np.frombuffer(keystream(enc_key, 8 * len(body) + 8), "<u8")
    obfuscated = body ^ outer[:-1]
    plain_hash = protected ^ fast_hash64(obfuscated, hash_key) ^ int(outer[-1])
    return _xor(obfuscated, keystream(plain_hash, 8 * len(body))).astype("<u8").tobytes()


def simple_fast_rc4_encrypt(data: bytes, key: bytes = DEFAULT_KEY) -> bytes:
    """Encrypt ``data`` as Lite's ``SIMPLE_FAST_RC4_default`` method."""
    hash_key, enc_key = _keys(key)
    words = _words(data)
    body = _xor(words, keystream(enc_key, 8 * len(words)))
    return body.astype("<u8").tobytes() + fast_hash64(body, hash_key).to_bytes(8, "little")


def simple_fast_rc4_decrypt(data: bytes, key: bytes = DEFAULT_KEY) -> bytes:
    """Decrypt Lite's ``SIMPLE_FAST_RC4_default`` data (checks its hash first).

    Raises:
        ValueError: the checksum does not match (wrong method or key, or damaged data).
    """
    hash_key, enc_key = _keys(key)
    body, checksum = _split(data, "SIMPLE_FAST_RC4_default")
    if fast_hash64(body, hash_key) != checksum:
        raise ValueError("SIMPLE_FAST_RC4_default: the checksum does not match; the data "
                         "is damaged or was encrypted with another method or key")
    return _xor(body, keystream(enc_key, 8 * len(body))).astype("<u8").tobytes()


__all__ = ["DEFAULT_KEY", "fast_hash64", "keystream", "rc4_decrypt", "rc4_encrypt",
           "simple_fast_rc4_decrypt", "simple_fast_rc4_encrypt"]
