"""Read an FBS_V2 ``.mge`` model file into a :class:`~.model.ModelFile`."""

from __future__ import annotations

import math
import struct

from . import oprs
from .dtypes import DType
from .errors import MgeFormatError
from .flatbuf import FbReader, Table
from .model import (
    FORMAT_KINDS,
    Metadata,
    ModelFile,
    Operator,
    OutputAlias,
    OutputVar,
    TensorFormat,
    TensorValue,
    VarInfo,
)
from .param_codec import decode_dtype, decode_param

#: FlatBuffers file identifier of FBS_V2 models (after the size prefix and root offset)
FBS_V2_IDENTIFIER = b"mgv2"
#: MegEngine's tensor rank limit (``TensorShape::MAX_NDIM``)
MAX_NDIM = 7

_MAGIC_FBS_V1 = {0x4342474D: "MGBC", 0x5342474D: "MGBS"}
_TESTCASE_MAGIC = b"mgbtest0"
_PACKED_TAG = b"packed_model"


def detect_format(data: bytes) -> str:
    """Name the container format of ``data``: ``"FBS_V2"``, ``"FBS"`` (v1),
    ``"TESTCASE"`` (``mgbtest0``), ``"LITE_PACKED"`` or ``"UNKNOWN"``."""
    if data[:8] == _TESTCASE_MAGIC:
        return "TESTCASE"
    if data[:12] == _PACKED_TAG:
        return "LITE_PACKED"
    if len(data) >= 4 and struct.unpack_from("<I", data)[0] in _MAGIC_FBS_V1:
        return "FBS"
    if data[8:12] == FBS_V2_IDENTIFIER:
        return "FBS_V2"
    return "UNKNOWN"


def _check_format(data: bytes, source: str) -> None:
    kind = detect_format(data)
    if kind == "FBS_V2":
        return
    if kind == "FBS":
        magic = _MAGIC_FBS_V1[struct.unpack_from("<I", data)[0]]
        raise MgeFormatError(
            source,
            f"format FBS (v1, magic {magic!r}) is not FBS_V2; read it with read_model "
            "(mge.serialization.fbs), which reads both",
        )
    if kind == "TESTCASE":
        raise MgeFormatError(
            source,
            "format 'mgbtest0' (model with embedded test cases) is not supported "
            "by the plain model reader; extract the model first",
        )
    if kind == "LITE_PACKED":
        raise MgeFormatError(
            source, "format 'packed_model' (MegEngine Lite packed/encrypted model) is not supported"
        )
    head = data[:12].hex() if data else "empty"
    raise MgeFormatError(
        source, f"not a MegEngine FBS_V2 model (no 'mgv2' identifier; first bytes {head})"
    )


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


def _shape(t: Table, slot: int) -> tuple[int, ...] | None:
    shape = t.scalars(slot, "I", "shape")
    if shape is not None and len(shape) > MAX_NDIM:
        t.r.fail(f"{t.what}.shape: {len(shape)} dims exceed MegEngine's limit of {MAX_NDIM}")
    return shape


def _comp_node(t: Table | None) -> str | None:
    return None if t is None else _text(t.string(0, "logical_locator"))


def _format(t: Table, type_slot: int) -> TensorFormat | None:
    kind = t.scalar(type_slot, "B", 0, "format_type")
    ft = t.table(type_slot + 1, "format")
    if kind == 0 and ft is None:
        return None
    if not 1 <= kind <= len(FORMAT_KINDS) or ft is None:
        t.r.fail(f"{t.what}.format: bad tensor format (type {kind})")
    name = FORMAT_KINDS[kind - 1]
    if name == "IMAGE2D_PACK4":
        return TensorFormat(name, align_axis=ft.scalar(0, "B", 0, "align_axis"))
    if name == "LOWBITS_ALIGNED":
        return TensorFormat(
            name,
            size_nbits=ft.scalar(0, "B", 0, "size_nbits"),
            align_size_in_bits=ft.scalar(1, "B", 0, "align_size_in_bits"),
        )
    return TensorFormat(name)


def _dtype(t: Table, slot: int) -> DType | None:
    sub = t.table(slot, "dtype")
    return None if sub is None else decode_dtype(sub)


def _tensor(t: Table) -> TensorValue:
    """Decode a ``Tensor`` table: name, shape, comp node, dtype, format, data."""
    r = t.r
    shape = _shape(t, 1) or ()
    dtype = _dtype(t, 3)
    fmt = _format(t, 4)
    comp_node = _comp_node(t.table(2, "comp_node"))
    if comp_node is None:
        r.fail(f"{t.what}: tensor has no comp node")
    raw = t.array(6, "data")
    data = None
    if raw is not None and dtype is not None:
        expected = dtype.nbytes(math.prod(shape))
        packed = dtype.is_lowbit or (fmt is not None and fmt.kind != "DEFAULT")
        if raw.size == 0 and expected:
            pass  # MegEngine treats an empty payload as "no value"
        elif packed:
            data = raw
        elif raw.size != expected:
            r.fail(
                f"{t.what}: data has {raw.size} bytes but shape {list(shape)} of "
                f"{dtype.name} needs {expected}"
            )
        else:
            data = raw.view(dtype.numpy).reshape(shape)
    elif raw is not None and raw.size:
        r.fail(f"{t.what}: tensor has data but no dtype")
    return TensorValue(
        shape=tuple(shape),
        dtype=dtype,
        data=data,
        name=_text(t.string(0, "name")),
        comp_node=comp_node,
        format=fmt,
    )


def _var(t: Table) -> VarInfo:
    shape = _shape(t, 1)
    return VarInfo(
        name=_text(t.string(0, "name")) or "",
        shape=None if shape is None else tuple(shape),
        dtype=_dtype(t, 3),
        comp_node=_comp_node(t.table(2, "comp_node")),
        format=_format(t, 4),
    )


def _resolve_type(r: FbReader, t: Table, type_id: int, version: int) -> str:
    """The operator's type name, checked against its id where the type is known."""
    name = _text(t.string(0, "type")) or ""
    by_id = oprs.find_by_id(type_id, version)
    if not name:
        if by_id is None:
            r.fail(
                f"{t.what}: unknown operator type id {type_id} (version {version}) and no type name"
            )
        return by_id.name
    by_name = oprs.find(name, version)
    if by_name is not None:
        if by_name.type_id != type_id:
            r.fail(
                f"{t.what}: type id {type_id} does not match operator type {name!r} "
                f"version {version} (expected {by_name.type_id})"
            )
    elif by_id is not None:
        r.fail(f"{t.what}: type id {type_id} is that of {by_id.name!r}, not {name!r}")
    elif oprs.for_writing(name, oprs.MAX_VERSION) is not None:
        r.fail(f"{t.what}: operator {name!r} has no serializer of version {version}")
    return name


def _op_params(r: FbReader, t: Table, slots: tuple[int, int, int, int]) -> list:
    """An operator table's param and additional params, from the slots of its fields
    param_type, param, additional_params_type and additional_params (FBS_V2: 3, 4, 5, 6;
    FBS v1: 1, 2, 10, 11)."""
    what = t.what
    type_slot, param_slot, extra_types_slot, extra_slot = slots
    params = []
    ptype = t.scalar(type_slot, "B", 0, "param_type")
    if ptype:
        sub = t.table(param_slot, "param")
        if sub is None:
            r.fail(f"{what}: param type {ptype} given but the param is missing")
        params.append(decode_param(r, ptype, sub.pos, f"{what}.param"))
    extra_types = t.scalars(extra_types_slot, "B", "additional_params_type") or ()
    extra = t.union_tables(extra_slot, "additional_params")
    if len(extra_types) != len(extra):
        r.fail(f"{what}: {len(extra_types)} additional param types for {len(extra)} params")
    for i, (ptype, pos) in enumerate(zip(extra_types, extra)):
        params.append(decode_param(r, ptype, pos, f"{what}.additional_params[{i}]"))
    return params


def _operator(r: FbReader, t: Table, next_var: int) -> Operator:
    what = t.what
    type_id = t.scalar(1, "Q", 0, "type_id")
    version = t.scalar(12, "I", 0, "opr_version")
    op_type = _resolve_type(r, t, type_id, version)
    params = _op_params(r, t, (3, 4, 5, 6))
    inputs = list(t.scalars(7, "I", "inputs") or ())
    for v in inputs:
        if v >= next_var:
            r.fail(f"{what}: input var {v} is not produced by an earlier operator")
    outputs = list(t.scalars(8, "I", "outputs") or ())
    if outputs != list(range(next_var, next_var + len(outputs))):
        r.fail(f"{what}: output var ids {outputs[:8]} are not the next ids from {next_var}")
    cn_tables = t.tables(9, "comp_node") if t.has(9) else None
    output_dtype = _dtype(t, 10)
    return Operator(
        type=op_type,
        inputs=inputs,
        outputs=outputs,
        params=params,
        tensors=[_tensor(x) for x in t.tables(11, "tensors")],
        name=_text(t.string(2, "name")),
        type_id=type_id,
        version=version,
        comp_nodes=None if cn_tables is None else [_comp_node(c) for c in cn_tables],
        output_dtype=output_dtype,
        priority=t.scalar(13, "i", 0, "priority"),
        blobs=[_blob(b) for b in t.tables(14, "custom_data")],
    )


def _blob(t: Table) -> bytes:
    raw = t.array(0, "data")
    return b"" if raw is None else raw.tobytes()


def _metadata(t: Table | None) -> Metadata | None:
    if t is None:
        return None
    return Metadata(
        is_valid=bool(t.scalar(0, "?", False, "is_valid")),
        graph_modified=bool(t.scalar(1, "?", False, "graph_modified")),
        optimize_options=t.scalar(2, "Q", 0, "optimize_options"),
        user_info=t.string(3, "user_info"),
    )


def read_model_v2(data: bytes, source_name: str) -> ModelFile:
    """Parse an FBS_V2 model; any problem raises :class:`MgeFormatError` naming the file.
    (:func:`~.formats.read_model` reads both FBS_V2 and FBS v1.)

    Only the first (size-prefixed) model in ``data`` is read, as MegEngine does.
    Nothing in the file is executed; tensor data are copied out of ``data``.
    """
    data = bytes(data)
    _check_format(data, source_name)
    if len(data) < 16:
        raise MgeFormatError(source_name, f"file is truncated ({len(data)} bytes)")
    (size,) = struct.unpack_from("<I", data)
    if size + 4 > len(data):
        raise MgeFormatError(
            source_name,
            f"file is truncated: the model needs {size + 4} bytes, the file has {len(data)}",
        )
    r = FbReader(data[: size + 4], source_name)
    model = r.root(4, "model")
    operators = []
    next_var = 0
    for i, t in enumerate(model.tables(2, "oprs")):
        t.what = f"operator #{i}"
        op = _operator(r, t, next_var)
        next_var += len(op.outputs)
        operators.append(op)
    vars_ = [_var(t) for t in model.tables(3, "middle_tensors")] if model.has(3) else None
    if vars_ is not None and len(vars_) != next_var:
        r.fail(f"model.middle_tensors: {len(vars_)} records for {next_var} variables")
    outputs = []
    for t in model.tables(4, "output_vars_idx"):
        out = OutputVar(t.scalar(0, "I", 0, "compact_id"), t.scalar(1, "I", 0, "original_id"))
        if out.var_id >= next_var:
            r.fail(f"{t.what}: output var {out.var_id} does not exist ({next_var} vars)")
        outputs.append(out)
    aliases = []
    originals = {o.original_id for o in outputs}
    for t in model.tables(5, "output_alias"):
        alias = OutputAlias(t.scalar(0, "I", 0, "id"), _text(t.string(1, "name")) or "")
        if alias.original_id not in originals:
            r.fail(f"{t.what}: alias {alias.name!r} refers to no output (id {alias.original_id})")
        aliases.append(alias)
    return ModelFile(
        operators=operators,
        outputs=outputs,
        vars=vars_,
        metadata=_metadata(model.table(7, "metadata")),
        output_aliases=aliases,
        mge_version=model.scalar(0, "I", 0, "mge_version"),
        model_version=model.scalar(1, "I", 0, "model_version"),
        nr_shared_tensor=model.scalar(6, "I", 0, "nr_shared_tensor"),
    )
