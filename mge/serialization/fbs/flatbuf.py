"""A bounds-checked FlatBuffers reader and small helpers over ``flatbuffers.Builder``.

The reader never trusts the buffer: every offset, vtable, vector length and string is
validated before use, so malformed input raises :class:`MgeFormatError` (never
``IndexError`` or ``struct.error``).  A work budget proportional to the buffer size
bounds the total bytes decoded, so a small file whose offsets all point at the same
large object cannot make the reader loop or allocate without bound.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import NoReturn

import flatbuffers
import numpy as np

from .errors import MgeFormatError

_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_VTABLE_HEAD = struct.Struct("<HH")

#: bytes the reader may decode per byte of input (plus a fixed allowance)
_BUDGET_FACTOR = 4
_BUDGET_BASE = 1 << 20


class FbReader:
    """Checked access to a FlatBuffers buffer; ``what`` strings describe the location."""

    def __init__(self, buf: bytes, source: str) -> None:
        self.buf = buf
        self.size = len(buf)
        self.source = source
        self._budget = _BUDGET_FACTOR * self.size + _BUDGET_BASE

    def fail(self, problem: str) -> NoReturn:
        raise MgeFormatError(self.source, problem)

    def charge(self, nbytes: int, what: str) -> None:
        """Account for ``nbytes`` decoded; fail once the budget is exhausted."""
        self._budget -= nbytes
        if self._budget < 0:
            self.fail(
                f"{what}: decoded data exceeds the file size many times over "
                "(objects referenced repeatedly?)"
            )

    def check(self, pos: int, length: int, what: str) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            self.fail(
                f"{what}: {length} bytes at offset {pos} lie outside the "
                f"{self.size}-byte buffer (truncated or corrupted)"
            )

    def unpack(self, fmt: struct.Struct, pos: int, what: str) -> tuple:
        self.check(pos, fmt.size, what)
        return fmt.unpack_from(self.buf, pos)

    def u32(self, pos: int, what: str) -> int:
        return self.unpack(_U32, pos, what)[0]

    def deref(self, pos: int, what: str) -> int:
        """Follow the uoffset stored at ``pos``; the target must be 4-byte aligned."""
        target = pos + self.u32(pos, what)
        if target % 4 or target >= self.size:
            self.fail(f"{what}: offset points to {target}, outside or misaligned")
        return target

    def string_at(self, pos: int, what: str) -> bytes:
        """The NUL-terminated string whose length word is at ``pos``."""
        n = self.u32(pos, what)
        self.check(pos + 4, n + 1, what)
        if self.buf[pos + 4 + n] != 0:
            self.fail(f"{what}: string is not NUL-terminated")
        self.charge(n, what)
        return bytes(self.buf[pos + 4 : pos + 4 + n])

    def table(self, pos: int, what: str) -> Table:
        """The table starting at ``pos`` (its vtable is validated here)."""
        return self._table(pos, None, what)

    def _table(self, pos: int, parent: Table | None, name: str | tuple[str, int]) -> Table:
        """:meth:`table` with the location kept as ``(parent, name)``: its text is built
        only when an error needs it (most tables never fail)."""
        buf, size = self.buf, self.size
        if pos < 0 or pos + 4 > size:
            self.check(pos, 4, _where(parent, name))
        soff = _I32.unpack_from(buf, pos)[0]
        vt = pos - soff
        if vt % 2 or vt < 0:
            self.fail(f"{_where(parent, name)}: bad vtable position {vt}")
        if vt + 4 > size:
            self.check(vt, 4, _where(parent, name))
        vt_len, obj_len = _VTABLE_HEAD.unpack_from(buf, vt)
        if vt_len < 4 or vt_len % 2 or obj_len < 4:
            self.fail(f"{_where(parent, name)}: bad vtable (size {vt_len}, object size {obj_len})")
        if vt + vt_len > size:
            self.check(vt, vt_len, _where(parent, name))
        if pos + obj_len > size:
            self.check(pos, obj_len, _where(parent, name))
        self._budget -= vt_len + obj_len
        if self._budget < 0:
            self.charge(0, _where(parent, name))
        slots = _VTABLE_SLOTS.get(vt_len)
        if slots is None:
            slots = _VTABLE_SLOTS[vt_len] = struct.Struct(f"<{(vt_len - 4) // 2}H")
        return Table(self, pos, slots.unpack_from(buf, vt + 4), obj_len, parent, name)

    def root(self, pos: int, what: str) -> Table:
        return self.table(self.deref(pos, what), what)


def _where(parent: Table | None, name: str | tuple[str, int]) -> str:
    """The text of a location: ``parent.what`` + ``.name`` (``.name[i]`` for a pair)."""
    text = name if isinstance(name, str) else f"{name[0]}[{name[1]}]"
    return text if parent is None else f"{parent.what}.{text}"


_FORMATS: dict[str, struct.Struct] = {}
#: the ``struct.Struct`` of a vtable's field offsets, by the vtable's size in bytes
_VTABLE_SLOTS: dict[int, struct.Struct] = {}


def _fmt(code: str) -> struct.Struct:
    """The little-endian ``struct.Struct`` of one scalar type code (cached)."""
    fmt = _FORMATS.get(code)
    if fmt is None:
        fmt = _FORMATS[code] = struct.Struct("<" + code)
    return fmt


class Table:
    """A validated table; field accessors take the vtable ``slot`` (0-based).

    ``offsets`` are the vtable's field offsets, read once when the table is made (an
    operator table has ~25 field reads); ``what`` (its location, for error messages) is
    built on first use from the parent table and the field name, so reading a valid
    file formats no location strings.
    """

    __slots__ = ("r", "pos", "offsets", "obj_len", "_parent", "_name")

    def __init__(
        self,
        r: FbReader,
        pos: int,
        offsets: tuple[int, ...],
        obj_len: int,
        parent: Table | None,
        name: str | tuple[str, int],
    ):
        self.r, self.pos, self.offsets, self.obj_len = r, pos, offsets, obj_len
        self._parent, self._name = parent, name

    @property
    def what(self) -> str:
        return _where(self._parent, self._name)

    @what.setter
    def what(self, text: str) -> None:
        self._parent, self._name = None, text

    def _field(self, slot: int, size: int, name: str) -> int:
        """Absolute position of field ``slot`` (0 if absent), checked to fit the object."""
        offsets = self.offsets
        if slot >= len(offsets):
            return 0
        off = offsets[slot]
        if off == 0:
            return 0
        if off < 4 or off + size > self.obj_len:
            self.r.fail(f"{self.what}.{name}: field lies outside its table")
        return self.pos + off

    def has(self, slot: int) -> bool:
        """True if field ``slot`` is present."""
        if slot >= len(self.offsets) or not self.offsets[slot]:
            return False
        return self._field(slot, 0, f"field {slot}") != 0

    def scalar(self, slot: int, code: str, default: object, name: str) -> object:
        # :meth:`_field` inline: an operator table reads ~10 scalars
        fmt = _FORMATS.get(code) or _fmt(code)
        offsets = self.offsets
        off = offsets[slot] if slot < len(offsets) else 0
        if not off:
            return default
        if off < 4 or off + fmt.size > self.obj_len:
            self.r.fail(f"{self.what}.{name}: field lies outside its table")
        return fmt.unpack_from(self.r.buf, self.pos + off)[0]

    def raw(self, slot: int, size: int, name: str) -> bytes | None:
        """Bytes of an inline struct field, or None if absent."""
        pos = self._field(slot, size, name)
        return bytes(self.r.buf[pos : pos + size]) if pos else None

    def _deref(self, pos: int, name: str | tuple[str, int]) -> int:
        """Follow the uoffset at ``pos`` (inside this table's field ``name``)."""
        r = self.r
        if pos + 4 > r.size:
            r.check(pos, 4, _where(self, name))
        target = pos + _U32.unpack_from(r.buf, pos)[0]
        if target % 4 or target >= r.size:
            r.fail(f"{_where(self, name)}: offset points to {target}, outside or misaligned")
        return target

    def _target(self, slot: int, name: str) -> int:
        """Where the uoffset field ``slot`` points (0 if absent): :meth:`_field` and
        :meth:`_deref` inline (every table, vector and string field goes through here)."""
        offsets = self.offsets
        off = offsets[slot] if slot < len(offsets) else 0
        if not off:
            return 0
        if off < 4 or off + 4 > self.obj_len:
            self.r.fail(f"{self.what}.{name}: field lies outside its table")
        r = self.r
        pos = self.pos + off
        if pos + 4 > r.size:
            r.check(pos, 4, _where(self, name))
        target = pos + _U32.unpack_from(r.buf, pos)[0]
        if target % 4 or target >= r.size:
            r.fail(f"{_where(self, name)}: offset points to {target}, outside or misaligned")
        return target

    def table(self, slot: int, name: str) -> Table | None:
        target = self._target(slot, name)
        return self.r._table(target, self, name) if target else None

    def string(self, slot: int, name: str) -> bytes | None:
        start, n = self._vector(slot, 1, name)
        if start < 0:
            return None
        buf = self.r.buf
        if start + n + 1 > self.r.size:
            self.r.check(start + n, 1, f"{self.what}.{name}")
        if buf[start + n] != 0:
            self.r.fail(f"{self.what}.{name}: string is not NUL-terminated")
        return bytes(buf[start : start + n])

    def strings(self, slot: int, name: str) -> list[bytes] | None:
        """A vector of strings, or None if absent."""
        start, n = self._vector(slot, 4, name)
        if start < 0:
            return None
        out = []
        for i in range(n):
            pos = self._deref(start + 4 * i, (name, i))
            out.append(self.r.string_at(pos, _where(self, (name, i))))
        return out

    def _vector(self, slot: int, elem_size: int, name: str) -> tuple[int, int]:
        """(start, count) of a vector field, or (-1, 0) if absent."""
        target = self._target(slot, name)
        if not target:
            return -1, 0
        r = self.r
        if target + 4 > r.size:
            r.check(target, 4, _where(self, name))
        n = _U32.unpack_from(r.buf, target)[0]
        nbytes = n * elem_size
        if target + 4 + nbytes > r.size:
            r.check(target + 4, nbytes, _where(self, name))
        r._budget -= nbytes
        if r._budget < 0:
            r.charge(0, _where(self, name))
        return target + 4, n

    def scalars(self, slot: int, code: str, name: str) -> tuple | None:
        """A vector of scalars as a tuple, or None if absent."""
        start, n = self._vector(slot, _fmt(code).size, name)
        if start < 0:
            return None
        return struct.unpack_from(f"<{n}{code}", self.r.buf, start)

    def structs(self, slot: int, fmt: struct.Struct, name: str) -> list[tuple] | None:
        """A vector of structs of layout ``fmt``, or None if absent."""
        start, n = self._vector(slot, fmt.size, name)
        if start < 0:
            return None
        return list(fmt.iter_unpack(memoryview(self.r.buf)[start : start + n * fmt.size]))

    def array(self, slot: int, name: str) -> np.ndarray | None:
        """A ``[ubyte]`` vector as a uint8 array, or None if absent: a read-only view
        when the buffer is ``bytes`` (immutable: weights are not copied), else a copy."""
        start, n = self._vector(slot, 1, name)
        if start < 0:
            return None
        view = np.frombuffer(self.r.buf, np.uint8, n, start)
        return view if isinstance(self.r.buf, bytes) else view.copy()

    def tables(self, slot: int, name: str) -> list[Table]:
        """A vector of tables ([] if absent)."""
        start, n = self._vector(slot, 4, name)
        r, deref = self.r, self._deref
        return [
            r._table(deref(start + 4 * i, (name, i)), self, (name, i)) for i in range(n)
        ]

    def union_tables(self, slot: int, name: str) -> list[int]:
        """Positions of the tables in a vector-of-unions value field ([] if absent)."""
        start, n = self._vector(slot, 4, name)
        return [self._deref(start + 4 * i, (name, i)) for i in range(n)]


# ---------------------------------------------------------------------------- writing


class FbWriter:
    """Thin conveniences over ``flatbuffers.Builder`` (which writes back to front)."""

    def __init__(self, size_hint: int = 1024) -> None:
        self.b = flatbuffers.Builder(max(1024, size_hint))

    def string(self, text: str | bytes) -> int:
        data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
        return self.b.CreateSharedString(data)

    def scalars(self, code: str, values: Sequence[int | float]) -> int:
        fmt = struct.Struct("<" + code)
        return self.raw_vector(
            struct.pack(f"<{len(values)}{code}", *values), fmt.size, len(values), fmt.size
        )

    def raw_vector(self, payload: bytes, elem_size: int, count: int, align: int) -> int:
        """A vector of ``count`` elements whose bytes are ``payload``, ``align``-aligned."""
        b = self.b
        b.StartVector(elem_size, count, max(align, 1))
        b.head = b.head - len(payload)
        b.Bytes[b.head : b.head + len(payload)] = payload
        return b.EndVector()

    def table_vector(self, offsets: Sequence[int]) -> int:
        b = self.b
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    def offset_slots(self, slots: Iterable[tuple[int, int]]) -> None:
        """Put each ``(slot, offset)`` of the table being built; offset 0 leaves it unset."""
        for slot, off in slots:
            if off:
                self.b.PrependUOffsetTRelativeSlot(slot, off, 0)

    def inline_struct(self, payload: bytes, align: int) -> int:
        """Place a struct just before the table being built; returns its offset."""
        b = self.b
        b.Prep(align, len(payload))
        b.head = b.head - len(payload)
        b.Bytes[b.head : b.head + len(payload)] = payload
        return b.Offset()
