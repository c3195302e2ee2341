"""``protos.make_node`` builds what ``onnx.helper.make_node`` builds, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from mge.convert.onnx.exporter.protos import make_node  # noqa: E402

CASES = [
    {},
    {"axis": 1},
    {"keepdims": True},
    {"alpha": 0.2, "beta": 1.0},
    {"mode": "nearest", "coordinate_transformation_mode": "asymmetric"},
    {"pads": [0, 1, 0, 1], "strides": (2, 2), "dilations": [1, 1], "group": 32},
    {"scales": [1.0, 2.0, 2.0]},
    {"mixed": [1, 2.5]},                      # ints and floats: onnx's FLOATS
    {"np_int": np.int64(3), "np_float": np.float32(0.5)},
    {"value": onnx.helper.make_tensor("value", onnx.TensorProto.FLOAT, [1], [0.0])},
    {"names": ["a", "b"]},
    {"skipped": None, "kept": 0},
]


@pytest.mark.parametrize("attrs", CASES)
def test_same_bytes_as_onnx_helper(attrs: dict) -> None:
    mine = make_node("Op", ["x", ""], ["y"], "op_1", attrs)
    theirs = onnx.helper.make_node("Op", ["x", ""], ["y"], name="op_1", **attrs)
    assert mine.SerializeToString() == theirs.SerializeToString()


def test_no_name() -> None:
    assert make_node("Relu", ["x"], ["y"], "", {}).SerializeToString() == \
        onnx.helper.make_node("Relu", ["x"], ["y"]).SerializeToString()


def test_refuses_what_onnx_refuses() -> None:
    with pytest.raises(TypeError):
        onnx.helper.make_node("Op", ["x"], ["y"], perm=[True, False])
    with pytest.raises(TypeError):
        make_node("Op", ["x"], ["y"], "", {"perm": [True, False]})
