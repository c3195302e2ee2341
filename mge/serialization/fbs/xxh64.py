"""XXH64 in pure Python and MegEngine's operator type ids built on it.

MegEngine identifies an operator type in a model file by the XXH64 hash (seed 20160701)
of its registered name.  Two spellings exist, see :func:`opr_type_id`.
"""

from __future__ import annotations

import struct

_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261
_MASK = (1 << 64) - 1

#: seed MegEngine uses for every operator type id
MGB_HASH_SEED = 20160701


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _MASK


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & _MASK
    return (_rotl(acc, 31) * _P1) & _MASK


def _merge(acc: int, val: int) -> int:
    acc ^= _round(0, val)
    return (acc * _P1 + _P4) & _MASK


def xxh64(data: bytes, seed: int = 0) -> int:
    """Return the 64-bit XXH64 digest of ``data`` as an unsigned int."""
    n = len(data)
    pos = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & _MASK
        v2 = (seed + _P2) & _MASK
        v3 = seed & _MASK
        v4 = (seed - _P1) & _MASK
        while pos + 32 <= n:
            a, b, c, d = struct.unpack_from("<4Q", data, pos)
            v1, v2, v3, v4 = _round(v1, a), _round(v2, b), _round(v3, c), _round(v4, d)
            pos += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _MASK
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + _P5) & _MASK
    h = (h + n) & _MASK
    while pos + 8 <= n:
        h ^= _round(0, struct.unpack_from("<Q", data, pos)[0])
        h = (_rotl(h, 27) * _P1 + _P4) & _MASK
        pos += 8
    if pos + 4 <= n:
        h ^= (struct.unpack_from("<I", data, pos)[0] * _P1) & _MASK
        h = (_rotl(h, 23) * _P2 + _P3) & _MASK
        pos += 4
    while pos < n:
        h ^= (data[pos] * _P5) & _MASK
        h = (_rotl(h, 11) * _P1) & _MASK
        pos += 1
    h ^= h >> 33
    h = (h * _P2) & _MASK
    h ^= h >> 29
    h = (h * _P3) & _MASK
    h ^= h >> 32
    return h


def strip_version_suffix(name: str) -> str:
    """Drop a trailing ``V<digit>`` (``PoolingV1`` -> ``Pooling``), as MegEngine does."""
    if len(name) > 2 and name[-1].isdigit() and name[-2] == "V":
        return name[:-2]
    return name


def opr_type_id(name: str, version: int) -> int:
    """Type id MegEngine stores for an operator registered under ``name``.

    Operators registered for model version 1 (``MGB_SEREG_OPR``) hash the name without
    its ``V<digit>`` suffix and without the C string terminator; operators registered
    only for version 2 (``MGB_SEREG_OPR_V2``) hash the full name *with* the trailing NUL.
    """
    if version >= 2:
        return xxh64(name.encode() + b"\0", MGB_HASH_SEED)
    return xxh64(strip_version_suffix(name).encode(), MGB_HASH_SEED)
