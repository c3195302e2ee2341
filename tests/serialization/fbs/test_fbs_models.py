"""Whole-model tests: hand-built and MegEngine-written files read, written, read again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mge.serialization.fbs import (
    DType,
    MgeFormatError,
    ModelFile,
    Operator,
    OutputVar,
    Param,
    TensorValue,
    VarInfo,
    detect_format,
    read_model,
    write_model,
)

from .conftest import GOLDEN, mge_files
from .fbs_samples import exotic, small_cnn, with_ids

MANIFEST = {e["name"]: e for e in json.loads((GOLDEN / "manifest.json").read_text())}


def golden(name: str) -> ModelFile:
    path = GOLDEN / f"{name}.mge"
    return read_model(path.read_bytes(), str(path))


def test_hand_built_models_round_trip() -> None:
    for model in (small_cnn(np.random.RandomState(0))[0], exotic()):
        data = write_model(model)
        assert detect_format(data) == "FBS_V2"
        back = read_model(data, "sample.mge")
        assert back == with_ids(model)
        assert write_model(back) == write_model(with_ids(model))


def test_exotic_model_details() -> None:
    back = read_model(write_model(exotic()), "exotic.mge")
    holder = back.operators[1]
    assert holder.tensors[0].data.dtype == np.int8 and holder.tensors[0].comp_node == "cpu0:0"
    assert holder.tensors[2].data.tolist() == [0x12, 0x34]  # packed QuantizedS4 stays raw
    assert holder.tensors[7].data is None and holder.tensors[7].name == "no_value"
    assert holder.tensors[10].format is None
    odd = back.operators[-1]
    assert (odd.type, odd.type_id, odd.version) == ("SomeFutureOpr", 0x123456789ABCDEF0, 7)
    assert odd.name == "odd\udcff" and odd.blobs == [b"", b"\x00\x01blob"]
    assert back.metadata.user_info == bytes(range(256))
    assert back.metadata.optimize_flags() == {
        "enable_io16xc32": True, "enable_fuse_conv_bias_nonlinearity": True,
        "layout_transform": "NCHW44"}  # fmt: skip
    assert back.resolved_outputs() == [(15, "converted"), (17, "odd_out")]
    assert back.nr_shared_tensor == 3


@pytest.mark.parametrize("path", mge_files(), ids=lambda p: p.name)
def test_megengine_files_round_trip_losslessly(path: Path) -> None:
    data = path.read_bytes()
    if detect_format(data) != "FBS_V2":  # e.g. a test-case container among the fixtures
        with pytest.raises(MgeFormatError, match="not supported"):
            read_model(data, str(path))
        return
    model = read_model(data, str(path))
    rewritten = write_model(model)
    again = read_model(rewritten, "rewritten")
    assert again == model
    assert write_model(again) == rewritten


def test_golden_net_contents() -> None:
    fused = golden("mobilenetv3_fuse")
    assert fused.mge_version == 101300 and fused.model_version == 2
    types = {op.type for op in fused.operators}
    assert {"Host2DeviceCopy", "ImmutableTensor", "ConvBiasForward", "Elemwise"} <= types
    h2d = fused.operators[[op.type for op in fused.operators].index("Host2DeviceCopy")]
    (inp,) = h2d.tensors
    assert (inp.name, inp.shape, inp.dtype, inp.data) == ("data", (1, 3, 32, 32), DType("Float32"),
                                                           None)  # fmt: skip
    conv = next(op for op in fused.operators if op.type == "ConvBiasForward")
    assert [p.type for p in conv.params] == ["ConvBias", "ExecutionPolicy"]
    assert conv.params[1].fields["strategy"] == "HEURISTIC"
    modes = {p.fields["nonlineMode"] for op in fused.operators for p in op.params
             if p.type == "ConvBias"}  # fmt: skip
    assert "H_SWISH" in modes or "RELU" in modes or "IDENTITY" in modes
    assert fused.metadata.optimize_flags() == {
        "enable_fuse_conv_bias_nonlinearity": True, "enable_fuse_grain": True}  # fmt: skip
    assert fused.metadata.user_info.startswith(b"\x80")  # a pickle, kept as bytes
    assert len(fused.vars) == fused.num_vars
    for op in fused.operators:
        for t in op.tensors:
            if t.data is not None:
                assert t.data.shape == t.shape and t.data.dtype == t.dtype.numpy


def test_golden_variants() -> None:
    io16 = golden("resnet18_io16xc32")
    consts = [t for op in io16.operators if op.type == "ImmutableTensor" for t in op.tensors]
    assert DType("Float16") in {t.dtype for t in consts}
    cvts = [op.param("FullDType")["dtype"] for op in io16.operators if op.type == "TypeCvtV2"]
    assert DType("Float16") in cvts and DType("Float32") in cvts
    nchw44 = golden("mobilenetv2_nchw44")
    formats = {p.fields.get("format") for op in nchw44.operators for p in op.params}
    assert "NCHW44" in formats
    assert nchw44.metadata.optimize_flags()["layout_transform"] == "NCHW44"
    nonames = golden("shufflenetv2_nonames")
    assert nonames.vars is None and nonames.metadata.is_valid is False
    assert nonames.resolved_outputs()[0][1] is None
    noopt = golden("shufflenetv2_noopt")
    assert "BatchNormV1" in {op.type for op in noopt.operators}
    assert noopt.metadata.optimized_for_inference is False
    named = golden("mobilenetv3_names")
    assert any(op.name for op in named.operators) and any(op.priority for op in named.operators)


def test_golden_preprocess_and_misc() -> None:
    pre = golden("preprocess")
    by_type = {op.type: op for op in pre.operators}
    inputs = {
        op.tensors[0].name: op.tensors[0] for op in pre.operators if op.type == "Host2DeviceCopy"
    }
    assert inputs["img"].dtype == DType("Uint8") and inputs["mat"].shape == (2, 3, 3)
    assert by_type["WarpPerspectiveV2"].param("WarpPerspective")["format"] == "NCHW"
    assert by_type["ResizeV2"].param("Resize")["imode"] == "LINEAR"
    assert by_type["Padding"].param("Padding")["back_offset_dim3"] == 2
    assert by_type["Dimshuffle"].param("Dimshuffle")["pattern"] == [0, 3, 1, 2]
    misc = golden("misc")
    types = {op.type for op in misc.operators}
    assert {"TopK", "Argsort", "ReshapeV1", "Subtensor", "Concat", "MatrixMulV2", "PowC",
            "ReduceV2", "AxisAddRemove", "Argmax", "TypeCvtV2"} <= types  # fmt: skip
    sub = next(op for op in misc.operators if op.type == "Subtensor")
    items = sub.param("IndexDescMaskDump")["items"]
    n_index_inputs = sum(it[k] for it in items for k in ("begin", "end", "step", "idx"))
    assert len(sub.inputs) == 1 + n_index_inputs
    assert len(misc.outputs) == 15
    assert all(name for _, name in misc.resolved_outputs())


def test_golden_shared_tensors() -> None:
    shared = golden("shared")
    op = next(op for op in shared.operators if op.type == "SharedDeviceTensor")
    assert op.version == 1 and op.tensors[0].data.shape == (2, 3)
    assert shared.nr_shared_tensor == 1
    holder = golden("shared_holder")
    op = next(op for op in holder.operators if op.type == "MultipleDeviceTensorHolder")
    assert op.version == 2 and op.tensors[0].name == "weight"


def test_manifest_lists_every_golden_file() -> None:
    assert {p.stem for p in GOLDEN.glob("*.mge")} == set(MANIFEST)


def _model(*ops: Operator, outputs: list[OutputVar] | None = None, **kw) -> ModelFile:
    return ModelFile(operators=list(ops), outputs=outputs or [OutputVar(0, 0)], **kw)


def _const(value: np.ndarray) -> Operator:
    t = TensorValue(shape=value.shape, dtype=DType.from_numpy(value.dtype), data=value)
    return Operator("ImmutableTensor", outputs=[0], tensors=[t])


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (_model(Operator("NoSuchOpr", outputs=[0])), "unknown operator type"),
        (_model(Operator("Elemwise", [3], [0], [Param("Elemwise", {"mode": "RELU"})])),
         "input var 3"),
        (_model(Operator("Elemwise", [], [1], [Param("Elemwise", {"mode": "RELU"})])),
         "next var ids"),
        (_model(Operator("Elemwise", outputs=[0])), "takes params"),
        (_model(Operator("Elemwise", outputs=[0], type_id=5, version=1,
                         params=[Param("Elemwise", {})])), "type_id 5"),
        (_model(_const(np.zeros(3, "float32")), outputs=[OutputVar(1, 0)]), "output var 1"),
        (_model(_const(np.zeros(3, "float32")), vars=[]), "vars has 0 entries"),
        (_model(Operator("ImmutableTensor", outputs=[0], tensors=[TensorValue(
            shape=(4,), dtype=DType("Float32"), data=np.zeros(3, "float32"))])), "expected"),
        (_model(Operator("ImmutableTensor", outputs=[0], tensors=[TensorValue(
            shape=(1,) * 8, dtype=DType("Float32"))])), "exceed"),
        (_model(Operator("ImmutableTensor", outputs=[0], tensors=[TensorValue(
            shape=(2**32,), dtype=DType("Float32"))])), "bad dimension"),
    ],
)  # fmt: skip
def test_writer_rejects_inconsistent_models(model: ModelFile, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_model(model)


def test_writer_fills_var_names_and_formats() -> None:
    model = _model(_const(np.arange(3, dtype="int32")), vars=[VarInfo()])
    back = read_model(write_model(model), "m")
    assert back.vars == [VarInfo(name="")]
    assert back.operators[0].tensors[0].data.tolist() == [0, 1, 2]


def test_tensor_payloads_are_aligned() -> None:
    data = write_model(_model(_const(np.arange(5, dtype="float32"))))
    pos = data.find(np.arange(5, dtype="float32").tobytes())
    assert pos > 0 and pos % 16 == 0


def test_reader_accepts_bytearray_and_memoryview_and_ignores_trailing_data() -> None:
    data = write_model(small_cnn(np.random.RandomState(0))[0])
    model = read_model(data, "a")
    assert read_model(bytearray(data), "b") == model
    assert read_model(memoryview(data + b"extra model or padding"), "c") == model


def test_unknown_param_type_and_enum_values_raise() -> None:
    model = _model(Operator("Elemwise", outputs=[0], params=[Param("Elemwise", {"mode": "SIGN"})]))
    data = bytearray(write_model(model))
    sign = 86  # last Elemwise mode in MegEngine 1.13
    pos = data.find(sign.to_bytes(4, "little"))
    data[pos] = 200
    with pytest.raises(MgeFormatError, match="out of range for Elemwise"):
        read_model(bytes(data), "enum.mge")
    type_pos = data.find(bytes([17]))  # param union type Elemwise
    while type_pos >= 0:
        trial = bytearray(data)
        trial[type_pos] = 120
        try:
            read_model(bytes(trial), "ptype.mge")
        except MgeFormatError as exc:
            if "unknown param type 120" in str(exc):
                break
        type_pos = data.find(bytes([17]), type_pos + 1)
    else:
        pytest.fail("could not locate the param type byte")
