"""Unit tests of the codec's building blocks: XXH64 ids, dtypes, enums, param specs."""

from __future__ import annotations

import numpy as np
import pytest

from mge.serialization.fbs import (
    DTYPE_NAMES,
    FULL_DTYPE,
    PARAMS_BY_ID,
    PARAMS_BY_NAME,
    DType,
    Metadata,
    ModelFile,
    Operator,
    OutputVar,
    Param,
    default_fields,
    opr_type_id,
    oprs,
    read_model,
    write_model,
    xxh64,
)
from mge.serialization.fbs.enums import ENUMS, FLAG_ENUMS, flags_to_str, str_to_flags
from mge.serialization.fbs.params import STRUCTS

# type ids read from files dumped by MegEngine 1.13.0
KNOWN_IDS = {
    ("Convolution", 2): 13553933750987029374,
    ("ImmutableTensor", 2): 6977527550664090289,
    ("Host2DeviceCopy", 2): 2436615116837392937,
    ("ConvBiasForward", 2): 14020002824874596106,
    ("Softmax", 2): 17433518091429734055,
    ("Elemwise", 1): 15475644582354676744,
    ("PoolingV1", 1): 5154136392692894827,
    ("MatrixMulV2", 1): 3532845811984360002,
    ("ReshapeV1", 1): 13416951895346073752,
    ("TypeCvtV2", 1): 3667709622108589241,
    ("Subtensor", 1): 5965999436643207205,
    ("WarpPerspectiveV2", 1): 7748309056852641149,
    ("ResizeV2", 1): 2961320257790257266,
}


@pytest.mark.parametrize(("name", "version"), sorted(KNOWN_IDS))
def test_opr_type_ids_match_megengine(name: str, version: int) -> None:
    assert opr_type_id(name, version) == KNOWN_IDS[name, version]
    assert oprs.find(name, version).type_id == KNOWN_IDS[name, version]


def test_xxh64_reference_vectors() -> None:
    # published XXH64 test vectors
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"a") == 0xD24EC4F1A98C6E5B
    assert xxh64(b"abc") == 0x44BC2CF5AD770999
    assert xxh64(b"Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1


def test_xxh64_matches_the_xxhash_package() -> None:
    xxhash = pytest.importorskip("xxhash")
    rng = np.random.RandomState(1)
    for n in [*range(70), 1000]:
        data = rng.bytes(n)
        for seed in (0, 20160701, 2**64 - 1):
            assert xxh64(data, seed) == xxhash.xxh64(data, seed=seed).intdigest()


def test_registry_prefers_version_2_like_megengine() -> None:
    assert oprs.for_writing("Convolution", 2).version == 2
    assert oprs.for_writing("ImmutableTensor", 2).version == 2
    assert oprs.for_writing("ImmutableTensor", 1).version == 1
    assert oprs.for_writing("PoolingV1", 2).version == 1
    assert oprs.for_writing("NoSuchOpr", 2) is None
    assert "ConvBiasForward" in oprs.known_names()
    conv = oprs.find("Convolution", 2)
    assert conv.check_params(["Convolution", "ExecutionPolicy"]) is None
    assert conv.check_params(["Convolution"]) is None
    assert conv.check_params([]) is not None
    assert conv.check_params(["Pooling"]) is not None
    assert oprs.find("ImmutableTensor", 2).check_params(["Empty"]) is not None


def test_dtypes_map_to_numpy_storage() -> None:
    assert DTYPE_NAMES[0] == "Float32" and DTYPE_NAMES.index("Bool") == 18
    assert DType("Float32").numpy == np.float32
    assert DType("Float16").numpy == np.float16
    assert DType("Bool").numpy == np.bool_
    assert DType("BFloat16").numpy == np.uint16  # raw bits
    q = DType("QuantizedS8", scale=0.1)
    assert q.numpy == np.int8 and q.is_quantized and q.scale == float(np.float32(0.1))
    assert DType("Quantized8Asymm", 0.5, 3).zero_point == 3
    assert DType("Quantized8Asymm", 0.5).zero_point == 0
    assert DType("QuantizedS4", 1.0).numpy is None and DType("IntB4").is_lowbit
    assert DType("QuantizedS4", 1.0).nbytes(5) == 3
    for np_type, name in [(np.float32, "Float32"), (np.int32, "Int32"), (np.uint8, "Uint8"),
                          (np.int8, "Int8"), (np.int16, "Int16"), (np.float16, "Float16"),
                          (np.bool_, "Bool")]:  # fmt: skip
        assert DType.from_numpy(np_type) == DType(name)
        assert DType(name).numpy == np_type
    assert DType.from_numpy(">f4") == DType("Float32")
    with pytest.raises(ValueError):
        DType.from_numpy(np.float64)
    with pytest.raises(ValueError):
        DType("Float64")
    with pytest.raises(ValueError):
        DType("QuantizedS8")  # scale missing
    with pytest.raises(ValueError):
        DType("Float32", scale=1.0)
    with pytest.raises(ValueError):
        DType("QuantizedS8", 1.0, zero_point=3)
    with pytest.raises(ValueError):
        DType("Quantized8Asymm", 1.0, zero_point=300)


def test_flag_enums() -> None:
    assert flags_to_str("ExecutionStrategy", 1) == "HEURISTIC"
    assert flags_to_str("ExecutionStrategy", 6) == "PROFILE|REPRODUCIBLE"
    assert flags_to_str("ExecutionStrategy", 0) == ""
    assert flags_to_str("ExecutionStrategy", 16) is None
    assert str_to_flags("ExecutionStrategy", "PROFILE | REPRODUCIBLE") == 6
    with pytest.raises(ValueError):
        str_to_flags("ExecutionStrategy", "FAST")


def test_param_specs_cover_the_union() -> None:
    assert set(PARAMS_BY_ID) == set(range(1, 98))
    assert len(PARAMS_BY_NAME) == len(PARAMS_BY_ID)
    for spec in PARAMS_BY_ID.values():
        for f in spec.fields:
            assert f.kind in ENUMS or f.struct is not None or f.kind in {
                "u32", "u64", "i32", "f32", "f64", "bool", "dtype", "i32[]"}  # fmt: skip
    conv = default_fields("Convolution")
    assert conv["mode"] == "CROSS_CORRELATION" and conv["stride_h"] == 1
    assert default_fields("Pooling")["mode"] == "MAX"
    assert default_fields("ExecutionPolicy")["strategy"] == "HEURISTIC"
    assert default_fields("OptionalAxisV1") == {"axis": 7}
    assert default_fields("Reduce")["axis"] == 2147483647
    assert default_fields("Resize")["format"] == "NHWC"
    assert default_fields("WarpPerspective")["imode"] == "LINEAR"
    assert ENUMS["Elemwise"].index("FUSE_ADD_RELU") == 37
    assert ENUMS["Elemwise"].index("H_SWISH") == 49
    assert ENUMS["ConvFormat"].index("NCHW44") == 7
    with pytest.raises(ValueError):
        default_fields(FULL_DTYPE)


def _non_default(kind: str, default: object) -> object:
    if kind in ENUMS:
        members = ENUMS[kind]
        if kind in FLAG_ENUMS:
            return "|".join(members[1:])
        return members[-1] if default != members[-1] else members[0]
    if kind == "dtype":
        return "Int16" if default != "Int16" else "Uint8"
    if kind == "bool":
        return not default
    if kind in ("f32", "f64"):
        return -2.5 if default != -2.5 else 4.0
    if kind == "i32[]":
        return [3, -1, 0]
    if kind == "AxisDesc[]":
        return [{"method": "REMOVE", "axis": -3}, {"method": "ADD_1", "axis": 6}]
    if kind == "IndexDescMaskItem[]":
        return [{"axis": 2, "begin": True, "end": True, "step": False, "idx": False}]
    if kind == "DTypeScalar":
        return {"dtype": "Int32", "storage": b"\x01\x02\x03\x04"}
    bounds = {"u32": 2**32 - 1, "u64": 2**64 - 1, "i32": -(2**31)}
    return bounds[kind] if default != bounds[kind] else 3


def _carrier(params: list[Param]) -> ModelFile:
    op = Operator("ParamCarrier", outputs=[0], params=params, type_id=99, version=1)
    return ModelFile(operators=[op], outputs=[OutputVar(0, 0)], metadata=Metadata())


@pytest.mark.parametrize("name", sorted(set(PARAMS_BY_NAME) - {FULL_DTYPE}))
def test_every_param_round_trips(name: str) -> None:
    spec = PARAMS_BY_NAME[name]
    defaults = Param(name, default_fields(name))
    changed = Param(name, {f.name: _non_default(f.kind, f.default) for f in spec.fields})
    empty = Param(name, {})
    back = read_model(write_model(_carrier([defaults, changed, empty])), name)
    assert back.operators[0].params == [defaults, changed, defaults]


def test_full_dtype_param_round_trips() -> None:
    params = [Param(FULL_DTYPE, {"dtype": d}) for d in (
        DType("Float16"), DType("Quantized8Asymm", 0.25, 17), DType("QuantizedS32", 1e-3),
        DType("Bool"))]  # fmt: skip
    back = read_model(write_model(_carrier(params)), "dtype")
    assert back.operators[0].params == params


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (Param("NoSuchParam", {}), "unknown param type"),
        (Param("Elemwise", {"mode": "NOPE"}), "not one of"),
        (Param("Elemwise", {"mdoe": "ADD"}), "unknown fields"),
        (Param("Axis", {"axis": 2**31}), "does not fit"),
        (Param("PowC", {"exp": "x"}), "does not fit"),
        (Param("Eye", {"dtype": "Float64"}), "unknown dtype"),
        (Param("Dimshuffle", {"pattern": [1.5]}), "does not fit"),
        (Param("AxisAddRemove", {"desc": [{"method": "ADD_1"}]}), "expected a dict"),
        (Param("ExecutionPolicy", {"strategy": "FAST"}), "not a member"),
        (Param(FULL_DTYPE, {"dtype": "Float32"}), "expected"),
    ],
)
def test_bad_params_are_rejected_on_write(param: Param, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_model(_carrier([param]))


def test_structs_have_flatbuffers_layout() -> None:
    assert STRUCTS["AxisDesc"].fmt.size == 8 and STRUCTS["AxisDesc"].align == 4
    assert STRUCTS["IndexDescMaskItem"].fmt.size == 5
    assert STRUCTS["DTypeScalar"].fmt.size == 5
