"""``load_and_run --input`` parsing: literals, files, names, dtypes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mge.tools.cli import ToolError
from mge.tools.inputs import literal, parse_inputs

F32 = np.dtype("float32")


def test_literal_dtypes_follow_megengine() -> None:
    assert literal("[1,2,3]", "x").dtype == np.int32
    assert literal("[[1.5],[2]]", "x").dtype == np.float32
    assert literal("[[1.5],[2]]", "x").shape == (2, 1)
    with pytest.raises(ToolError, match="bad literal"):
        literal("[1,[2]]", "x")


def test_names_and_defaults(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(4, dtype=np.int64).reshape(2, 2))
    one = {"img": ((2, 2), F32)}
    got = parse_inputs(str(tmp_path / "x.npy"), one)["img"]
    assert got.dtype == F32 and got.tolist() == [[0, 1], [2, 3]]
    two = {"data": ((2,), F32), "mask": ((2,), np.dtype("int32"))}
    got = parse_inputs("[1.5,2.5]; mask:[1,0]", two)  # unnamed: "data", as MegEngine's tool
    assert got["data"].tolist() == [1.5, 2.5] and got["mask"].dtype == np.int32
    with pytest.raises(ToolError, match="gives input 'mask' twice"):
        parse_inputs("mask:[1,0];mask:[0,1]", two)
    with pytest.raises(ToolError, match="unknown input 'data'"):
        parse_inputs("[1]", {"a": ((1,), F32), "b": ((1,), F32)})
