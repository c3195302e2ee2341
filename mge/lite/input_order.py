"""The order in which MegEngine Lite lists a model's inputs.

``get_input_name(i)`` and ``get_all_input_name()`` of MegEngine Lite 1.13 walk the
loader's tensor map, a ``std::unordered_map<std::string, ...>`` filled in the file's
operator order: the names come out in libstdc++'s hash-table order, not in the order the
inputs were dumped (``arg_names=["data", "roi"]`` lists as ``["roi", "data"]``). This
module reproduces that order: libstdc++'s string hash (``std::_Hash_bytes``, 64-bit,
seed ``0xc70f6907``), its prime bucket counts (13 buckets for up to 13 names, then 29,
59, 127, 257, ...; the order is exact up to 257 inputs) and its node insertion rule (a
name whose bucket is empty goes to the front of the list, otherwise to the front of its
bucket's run; a rehash re-inserts the list in order by the same rule).

Example:
    >>> lite_input_order(["data", "roi"])
    ['roi', 'data']
"""

from __future__ import annotations

from collections.abc import Sequence

_MASK = (1 << 64) - 1
_MUL = (0xC6A4A793 << 32) + 0x5BD1E995
_SEED = 0xC70F6907
_FAST_BUCKETS = (2, 2, 2, 3, 5, 5, 7, 7, 11, 11, 11, 11, 13, 13)
# the part of libstdc++'s __prime_list that bucket counts up to 257 inputs come from
_PRIMES = (17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 103,
           109, 113, 127, 137, 139, 149, 157, 167, 179, 193, 199, 211, 227, 241, 257, 277,
           293, 313, 337, 359, 383, 409, 439, 467, 503, 541)


def _shift_mix(v: int) -> int:
    return v ^ (v >> 47)


def libstdcxx_hash(data: bytes) -> int:
    """``std::hash<std::string>`` of libstdc++ on 64-bit Linux."""
    n = len(data)
    h = (_SEED ^ (n * _MUL)) & _MASK
    aligned = n & ~7
    for k in range(0, aligned, 8):
        word = int.from_bytes(data[k:k + 8], "little")
        h = ((h ^ ((_shift_mix((word * _MUL) & _MASK) * _MUL) & _MASK)) * _MUL) & _MASK
    if n & 7:
        h = ((h ^ int.from_bytes(data[aligned:], "little")) * _MUL) & _MASK
    h = (_shift_mix(h) * _MUL) & _MASK
    return _shift_mix(h)


def _bucket_count(wanted: int) -> int:
    if wanted < len(_FAST_BUCKETS):
        return _FAST_BUCKETS[wanted]
    for prime in _PRIMES:
        if prime >= wanted:
            return prime
    candidate = wanted  # beyond the table: the next prime (libstdc++'s list is sparser)
    while any(candidate % d == 0 for d in range(2, int(candidate ** 0.5) + 1)):
        candidate += 1
    return candidate


def _insert(order: list[bytes], key: bytes, hashes: dict[bytes, int], buckets: int) -> None:
    bucket = hashes[key] % buckets
    for pos, other in enumerate(order):
        if hashes[other] % buckets == bucket:
            order.insert(pos, key)
            return
    order.insert(0, key)


def lite_input_order(names: Sequence[str]) -> list[str]:
    """``names`` (inserted in this order) as a libstdc++ ``unordered_map`` iterates them."""
    hashes: dict[bytes, int] = {}
    order: list[bytes] = []
    buckets, next_resize = 1, 0
    for name in names:
        key = name.encode("utf-8", "surrogateescape")
        if key in hashes:
            continue
        hashes[key] = libstdcxx_hash(key)
        count = len(order) + 1
        if count > next_resize:  # libstdc++'s _Prime_rehash_policy::_M_need_rehash
            minimum = max(count, 11 if next_resize == 0 else 0)
            if minimum >= buckets:
                buckets = _bucket_count(max(minimum + 1, buckets * 2))
                next_resize = buckets
                rehashed: list[bytes] = []
                for old in order:
                    _insert(rehashed, old, hashes, buckets)
                order = rehashed
            else:
                next_resize = buckets
        _insert(order, key, hashes, buckets)
    return [k.decode("utf-8", "surrogateescape") for k in order]


__all__ = ["libstdcxx_hash", "lite_input_order"]
