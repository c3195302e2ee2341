"""Bad FBS (v1) files: every problem is an MgeFormatError naming the file (and, for layout
problems, the file offset); nothing else escapes, nothing hangs, nothing runs."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mge.serialization.fbs import Metadata, MgeFormatError, oprs_v1, read_model, write_model
from mge.serialization.mge_graph import graph_from_bytes

FIXTURES = Path(__file__).parents[2] / "fixtures" / "fbs_v1"
DATA = (FIXTURES / "convnet.mge").read_bytes()
SOURCE = "bad/v1.mge"
GRAPH_AT = 24 + struct.unpack_from("<Q", DATA, 16)[0]


def _fails(data: bytes, match: str) -> None:
    with pytest.raises(MgeFormatError, match=match) as info:
        graph_from_bytes(data, SOURCE).graph.lint()
    assert str(info.value).startswith(SOURCE + ": ")


@pytest.mark.parametrize("cut", [4, 8, 20, 23, 24, 100, GRAPH_AT, GRAPH_AT + 3,
                                 GRAPH_AT + 4, GRAPH_AT + 100, len(DATA) - 1])
def test_truncated_file_names_the_offset(cut: int) -> None:
    _fails(DATA[:cut], r"truncated.*\d+ bytes|offset \d+")


def test_header_offset_past_the_end() -> None:
    bad = DATA[:16] + struct.pack("<Q", len(DATA)) + DATA[24:]
    _fails(bad, rf"graph should start at offset {len(DATA) + 24}, the file has {len(DATA)}")


def test_graph_offset_off_by_some_bytes() -> None:
    bad = DATA[:16] + struct.pack("<Q", GRAPH_AT - 24 - 8) + DATA[24:]
    _fails(bad, rf"(no FBS \(v1\) graph|truncated).*offset {GRAPH_AT - 8}")


def test_tensor_values_running_into_the_graph() -> None:
    """Dropping 64 value bytes (offset fixed) leaves the last tensors short."""
    area = DATA[24:GRAPH_AT]
    bad = DATA[:16] + struct.pack("<Q", len(area) - 64) + area[64:] + DATA[GRAPH_AT:]
    _fails(bad, r"operator #\d+\.tensors\[0\]: value of \d+ bytes at file offset \d+ runs past "
                r"the tensor area, which ends at offset \d+")


def test_unknown_operator_type() -> None:
    model = read_model(DATA, "convnet.mge")
    graph = bytearray(DATA[GRAPH_AT:])
    first = model.operators[0]
    tid = oprs_v1.persistent_id(oprs_v1.v1_type_for(first.type, first.version))
    at = graph.find(tid.to_bytes(8, "little"))
    graph[at:at + 8] = (12345).to_bytes(8, "little")
    _fails(DATA[:GRAPH_AT] + bytes(graph),
           r"operator #\d+: unknown operator type id 0x3039 .*graph at file offset \d+")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(DATA) - 1), st.integers(0, 255)),
                min_size=1, max_size=4))
def test_random_corruption_gives_format_errors_only(edits: list[tuple[int, int]]) -> None:
    data = bytearray(DATA)
    for pos, value in edits:
        data[pos] = value
    try:
        graph_from_bytes(bytes(data), SOURCE).graph.lint()
    except MgeFormatError as exc:
        assert str(exc).startswith(SOURCE + ": ")


class _Boom:
    def __reduce__(self) -> tuple:
        return (Path.touch, (Path("/tmp/mge-fbs-v1-boom"),))


def test_loading_never_unpickles_user_info(tmp_path: Path) -> None:
    marker = Path("/tmp/mge-fbs-v1-boom")
    marker.unlink(missing_ok=True)
    model = read_model(DATA, "convnet.mge")
    model.metadata = Metadata(user_info=pickle.dumps(_Boom()))
    loaded = graph_from_bytes(write_model(model, "FBS"), "evil.mge")
    assert loaded.metadata.user_info == model.metadata.user_info
    assert not marker.exists()
    out = loaded.output_vars_list[0]
    assert out.shape == (2, 10) and np.dtype(out.dtype) == np.float32
