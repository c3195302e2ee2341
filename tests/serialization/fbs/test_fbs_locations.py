"""Error locations of the FlatBuffers reader: built lazily, yet naming the full path."""

from __future__ import annotations

import flatbuffers
import pytest

from mge.serialization.fbs import MgeFormatError
from mge.serialization.fbs.flatbuf import FbReader


def _root_with_named_items(names: list[bytes]) -> bytearray:
    """A root table whose field 0 is a vector of tables, each with a string field 0."""
    b = flatbuffers.Builder(256)
    strings = [b.CreateString(n) for n in names]
    items = []
    for s in strings:
        b.StartObject(1)
        b.PrependUOffsetTRelativeSlot(0, s, 0)
        items.append(b.EndObject())
    b.StartVector(4, len(items), 4)
    for off in reversed(items):
        b.PrependUOffsetTRelative(off)
    vec = b.EndVector()
    b.StartObject(1)
    b.PrependUOffsetTRelativeSlot(0, vec, 0)
    b.Finish(b.EndObject())
    return bytearray(b.Output())


def _items(buf: bytes) -> list:
    return FbReader(bytes(buf), "x.mge").root(0, "model").tables(0, "items")


def test_valid_nested_tables_read_and_name_themselves() -> None:
    items = _items(_root_with_named_items([b"alpha", b"beta"]))
    assert [t.string(0, "name") for t in items] == [b"alpha", b"beta"]
    assert items[1].what == "model.items[1]"
    items[1].what = "operator #1"  # the reader renames operators this way
    assert items[1].what == "operator #1"


def test_error_in_a_nested_field_names_the_whole_path() -> None:
    buf = _root_with_named_items([b"alpha", b"beta"])
    end = buf.index(b"beta") + len(b"beta")
    buf[end] = ord("!")  # drop the NUL terminator of items[1].name
    items = _items(buf)
    assert items[0].string(0, "name") == b"alpha"
    with pytest.raises(MgeFormatError, match=r"model\.items\[1\]\.name: string is not NUL"):
        items[1].string(0, "name")
    items[1].what = "operator #1"
    with pytest.raises(MgeFormatError, match=r"x\.mge: operator #1\.name: string is not NUL"):
        items[1].string(0, "name")


def test_bad_element_offset_names_the_element() -> None:
    buf = _root_with_named_items([b"alpha", b"beta"])
    reader = FbReader(bytes(buf), "x.mge")
    root = reader.root(0, "model")
    start = root._target(0, "items") + 4  # the vector's first element offset
    buf[start + 4 : start + 8] = (10**6).to_bytes(4, "little")  # element 1 points far away
    with pytest.raises(MgeFormatError, match=r"model\.items\[1\]: offset points to"):
        _items(buf)
