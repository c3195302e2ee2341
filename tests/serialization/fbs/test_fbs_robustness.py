"""Malformed input: every failure is an MgeFormatError naming the file, and it is quick."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mge.serialization.fbs import (
    DType,
    MgeFormatError,
    ModelFile,
    Operator,
    OutputVar,
    Param,
    TensorValue,
    detect_format,
    read_model,
    write_model,
)
from mge.serialization.fbs.flatbuf import FbWriter
from mge.serialization.fbs.param_codec import encode_dtype
from mge.serialization.fbs.xxh64 import opr_type_id

from .conftest import GOLDEN
from .fbs_samples import exotic, small_cnn

SAMPLES = [
    write_model(small_cnn(np.random.RandomState(0))[0]),
    write_model(exotic()),
    (GOLDEN / "misc.mge").read_bytes(),
    (GOLDEN / "shared_holder.mge").read_bytes(),
]
SOURCE = "corrupt/model.mge"


def read_or_format_error(data: bytes) -> ModelFile | None:
    """Read ``data``; only MgeFormatError (naming the file) may escape."""
    start = time.perf_counter()
    try:
        return read_model(data, SOURCE)
    except MgeFormatError as exc:
        assert str(exc).startswith(SOURCE + ": ") and exc.source == SOURCE
        return None
    finally:
        assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a MegEngine FBS_V2 model"),
        (b"\x00" * 64, "not a MegEngine FBS_V2 model"),
        (b"MGBC" + b"\x00" * 60, "no FBS \\(v1\\) graph .* at file offset 24"),
        (b"MGBS" + b"\x00" * 60, "no FBS \\(v1\\) graph .* at file offset 16"),
        (b"mgbtest0" + b"\x01\x00\x00\x00" + SAMPLES[0], "mgbtest0"),
        (b"packed_model" + b"\x00" * 32, "packed_model"),
        (SAMPLES[0][:8] + b"mgv1" + SAMPLES[0][12:], "no 'mgv2' identifier"),
        (SAMPLES[0][:11], "not a MegEngine FBS_V2 model"),
        (SAMPLES[0][:12], "truncated"),
        (SAMPLES[0][:-1], "truncated: the model needs"),
    ],
)
def test_wrong_or_unsupported_formats(data: bytes, message: str) -> None:
    with pytest.raises(MgeFormatError, match=message) as info:
        read_model(data, SOURCE)
    assert str(info.value).startswith(SOURCE)


def test_format_detection() -> None:
    assert detect_format(SAMPLES[0]) == "FBS_V2"
    assert detect_format(b"MGBC\x00\x00\x00\x00") == "FBS"
    assert detect_format(b"mgbtest0") == "TESTCASE"
    assert detect_format(b"packed_model") == "LITE_PACKED"
    assert detect_format(b"junk") == "UNKNOWN"


@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_every_truncation_with_patched_size_prefix(sample: int) -> None:
    data = SAMPLES[sample]
    for n in range(12, len(data), max(1, len(data) // 400)):
        cut = struct.pack("<I", n - 4) + data[4:n]
        assert read_or_format_error(cut) is None or n >= len(data) - 16


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, pos, value in edits:
        pos %= len(out)
        if kind == 0:  # flip one bit
            out[pos] ^= 1 << (value % 8)
        elif kind == 1:  # overwrite a byte
            out[pos] = value % 256
        else:  # overwrite an aligned word with an interesting number
            pos -= pos % 4
            words = [0, 1, 4, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, len(out), value]
            if pos + 4 <= len(out):
                out[pos : pos + 4] = struct.pack("<I", words[value % len(words)] & 0xFFFFFFFF)
    return bytes(out)


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.integers(0, len(SAMPLES) - 1),
    edits=st.lists(
        st.tuples(st.integers(0, 2), st.integers(8, 1 << 20), st.integers(0, 2**32 - 1)),
        min_size=1,
        max_size=6,
    ),
)
def test_random_corruption_raises_only_format_errors(sample: int, edits: list) -> None:
    read_or_format_error(_mutate(SAMPLES[sample], edits))


@settings(max_examples=200, deadline=2000)
@given(data=st.binary(min_size=0, max_size=512))
def test_random_bytes_after_a_valid_header(data: bytes) -> None:
    header = struct.pack("<II", len(data) + 8, 8) + b"mgv2"
    read_or_format_error(header + b"\x00\x00\x00\x00" + data)


def _amplified(copies_of_op: int, copies_of_tensor: int, payload: int) -> bytes:
    """A file whose operator/tensor vectors reference one big tensor many times."""
    w = FbWriter()
    b = w.b
    data = w.raw_vector(bytes(payload), 1, payload, 16)
    shape = w.scalars("I", [payload])
    dtype = encode_dtype(w, DType("Uint8"))
    loc = w.string("xpux:0")
    b.StartObject(1)
    b.PrependUOffsetTRelativeSlot(0, loc, 0)
    cn = b.EndObject()
    b.StartObject(7)
    for slot, off in ((1, shape), (2, cn), (3, dtype), (6, data)):
        b.PrependUOffsetTRelativeSlot(slot, off, 0)
    tensor = b.EndObject()
    tensors = w.table_vector([tensor] * copies_of_tensor)
    name = w.string("ImmutableTensor")
    b.StartObject(15)
    b.PrependUOffsetTRelativeSlot(0, name, 0)
    b.PrependUint64Slot(1, opr_type_id("ImmutableTensor", 2), 0)
    b.PrependUOffsetTRelativeSlot(11, tensors, 0)
    b.PrependUint32Slot(12, 2, 0)
    op = b.EndObject()
    ops = w.table_vector([op] * copies_of_op)
    b.StartObject(8)
    b.PrependUOffsetTRelativeSlot(2, ops, 0)
    b.FinishSizePrefixed(b.EndObject(), b"mgv2")
    return bytes(b.Output())


@pytest.mark.parametrize(("ops", "tensors"), [(100_000, 1), (1, 100_000), (300, 300)])
def test_repeated_references_cannot_amplify_work(ops: int, tensors: int) -> None:
    data = _amplified(ops, tensors, 1 << 16)
    assert len(data) < 2_000_000
    with pytest.raises(MgeFormatError, match="exceeds the file size"):
        read_model(data, SOURCE)
    assert read_model(_amplified(2, 2, 1 << 16), SOURCE).operators[1].tensors[1].data.size


def test_absurd_shapes_are_rejected() -> None:
    model = read_model(SAMPLES[0], SOURCE)
    assert model.operators[0].type == "Host2DeviceCopy"
    data = bytearray(SAMPLES[0])
    # the input shape (1, 3, 8, 8) is stored as a uint32 vector; claim 2**32-1 x 3 x 8 x 8
    pos = data.find(struct.pack("<5I", 4, 1, 3, 8, 8))
    assert pos > 0
    data[pos + 4 : pos + 8] = struct.pack("<I", 0xFFFFFFFF)
    huge = read_model(bytes(data), SOURCE)  # a description only: no allocation
    assert huge.operators[0].tensors[0].shape == (0xFFFFFFFF, 3, 8, 8)
    data[pos : pos + 4] = struct.pack("<I", 0x7FFFFFF0)  # rank beyond the buffer
    with pytest.raises(MgeFormatError, match="outside"):
        read_model(bytes(data), SOURCE)
    w = np.random.RandomState(0).randn(4, 3, 3, 3).astype("float32")
    pos = bytes(SAMPLES[0]).find(struct.pack("<5I", 4, 4, 3, 3, 3))
    data = bytearray(SAMPLES[0])
    data[pos + 4 : pos + 8] = struct.pack("<I", 5)  # weight shape no longer matches its data
    with pytest.raises(MgeFormatError, match="data has 432 bytes"):
        read_model(bytes(data), SOURCE)
    assert w.nbytes == 432


@pytest.mark.parametrize("method", [-1, -128, 2, 127])
def test_bad_struct_enum_values_raise(method: int) -> None:
    desc = [{"method": "REMOVE", "axis": 0x5A5A5A5A}]
    op = Operator("AxisAddRemove", [0], [1], [Param("AxisAddRemove", {"desc": desc})])
    model = ModelFile(operators=[_input(), op], outputs=[OutputVar(1, 1)])
    data = bytearray(write_model(model))
    pos = data.find(struct.pack("<bxxxi", 1, 0x5A5A5A5A))
    data[pos] = method & 0xFF
    with pytest.raises(MgeFormatError, match="out of range for AxisDescMethod"):
        read_model(bytes(data), SOURCE)


def _input() -> Operator:
    t = TensorValue(shape=(1, 2), dtype=DType("Float32"), name="x")
    return Operator("Host2DeviceCopy", outputs=[0], tensors=[t],
                    params=[Param("Host2DeviceCopy", {})])  # fmt: skip
