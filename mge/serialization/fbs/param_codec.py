"""Generic decoding and encoding of param tables (driven by :mod:`.params`) and dtypes."""

from __future__ import annotations

import struct
from typing import Any

from .dtypes import DTYPE_NAMES, DType, dtype_name, is_asymmetric, is_quantized_name
from .enums import ENUMS, FLAG_ENUMS, flags_to_str, str_to_flags
from .flatbuf import FbReader, FbWriter, Table
from .model import Param
from .params import FULL_DTYPE, PARAMS_BY_ID, PARAMS_BY_NAME, SCALARS, FieldSpec, StructSpec

#: union index of LinearQuantizationParam in the DType table's param union
_LINEAR_QUANT = 1

_PREPEND_SLOT = {
    "B": "PrependUint8Slot", "b": "PrependInt8Slot", "?": "PrependBoolSlot",
    "I": "PrependUint32Slot", "i": "PrependInt32Slot", "Q": "PrependUint64Slot",
    "f": "PrependFloat32Slot", "d": "PrependFloat64Slot",
}  # fmt: skip


# ------------------------------------------------------------------------------ dtypes


def decode_dtype(t: Table) -> DType:
    """Decode a ``DType`` table (type + optional linear quantization param)."""
    r = t.r
    value = t.scalar(0, "b", 0, "type")
    name = dtype_name(value)
    if name is None:
        r.fail(f"{t.what}: unknown dtype enum value {value}")
    if not is_quantized_name(name):
        return DType(name)
    if t.scalar(1, "B", 0, "param_type") != _LINEAR_QUANT:
        r.fail(f"{t.what}: quantized dtype {name} lacks its quantization param")
    q = t.table(2, "param")
    if q is None:
        r.fail(f"{t.what}: quantized dtype {name} lacks its quantization param")
    scale = q.scalar(0, "f", 0.0, "scale")
    zero_point = q.scalar(1, "B", 0, "zero_point") if is_asymmetric(name) else None
    return DType(name, scale, zero_point)


def encode_dtype(w: FbWriter, dtype: DType) -> int:
    """Write a ``DType`` table; returns its offset."""
    b = w.b
    quant = None
    if dtype.is_quantized:
        b.StartObject(2)
        b.PrependFloat32Slot(0, dtype.scale, 0.0)
        if dtype.zero_point is not None:
            b.PrependUint8Slot(1, dtype.zero_point, 0)
        quant = b.EndObject()
    b.StartObject(3)
    b.PrependInt8Slot(0, dtype.enum, 0)
    if quant is not None:
        b.PrependUint8Slot(1, _LINEAR_QUANT, 0)
        b.PrependUOffsetTRelativeSlot(2, quant, 0)
    return b.EndObject()


# ------------------------------------------------------------------------------ decode


def _decode_enum(r: FbReader, what: str, kind: str, value: int) -> str:
    if kind in FLAG_ENUMS:
        text = flags_to_str(kind, value)
        if text is None:
            r.fail(f"{what}: value {value:#x} has bits outside {kind}")
        return text
    members = ENUMS[kind]
    if not 0 <= value < len(members):
        r.fail(f"{what}: enum value {value} is out of range for {kind} ({len(members)} members)")
    return members[value]


def _decode_struct(r: FbReader, what: str, spec: StructSpec, values: tuple) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for (name, kind), value in zip(spec.fields, values):
        if kind in ENUMS:
            value = _decode_enum(r, f"{what}.{name}", kind, value)
        elif kind == "dtype":
            if dtype_name(value) is None:
                r.fail(f"{what}.{name}: unknown dtype enum value {value}")
            value = dtype_name(value)
        elif kind == "bool":
            value = bool(value)
        out[name] = value
    return out


def _decode_field(t: Table, slot: int, f: FieldSpec) -> Any:
    # the location text (``what``) is formatted only where a value may need it
    spec = f.struct
    if f.is_vector:
        if spec is None:  # i32[]
            values = t.scalars(slot, SCALARS[f.kind[:-2]], f.name)
            return [] if values is None else list(values)
        items = t.structs(slot, spec.fmt, f.name) or []
        what = f"{t.what}.{f.name}"
        return [_decode_struct(t.r, f"{what}[{i}]", spec, v) for i, v in enumerate(items)]
    if spec is not None:
        raw = t.raw(slot, spec.fmt.size, f.name)
        if raw is None:
            return None
        return _decode_struct(t.r, f"{t.what}.{f.name}", spec, spec.fmt.unpack(raw))
    if f.is_enum:
        value = t.scalar(slot, "I", None, f.name)
        if value is None:  # absent: the default (most enum fields of a file's params)
            if f.kind not in FLAG_ENUMS and f.default in ENUMS[f.kind]:
                return f.default
            value = _enum_value(f.kind, f.default, f"{t.what}.{f.name}")
        if f.kind not in FLAG_ENUMS:
            members = ENUMS[f.kind]
            if 0 <= value < len(members):
                return members[value]
        return _decode_enum(t.r, f"{t.what}.{f.name}", f.kind, value)
    if f.kind == "dtype":
        value = t.scalar(slot, "b", DTYPE_NAMES.index(f.default), f.name)
        name = dtype_name(value)
        if name is None:
            t.r.fail(f"{t.what}.{f.name}: unknown dtype enum value {value}")
        return name
    return t.scalar(slot, SCALARS[f.kind], f.default, f.name)


def decode_param(r: FbReader, union_id: int, pos: int, what: str) -> Param:
    """Decode the param table at ``pos`` selected by union index ``union_id``."""
    spec = PARAMS_BY_ID.get(union_id)
    if spec is None:
        r.fail(f"{what}: unknown param type {union_id}")
    t = r.table(pos, f"{what}<{spec.name}>")
    if spec.name == FULL_DTYPE:
        return Param(FULL_DTYPE, {"dtype": decode_dtype(t)})
    return Param(spec.name, {f.name: _decode_field(t, i, f) for i, f in enumerate(spec.fields)})


# ------------------------------------------------------------------------------ encode


def _enum_value(kind: str, value: Any, where: str) -> int:
    if kind in FLAG_ENUMS:
        try:
            return str_to_flags(kind, value)
        except (ValueError, AttributeError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    members = ENUMS[kind]
    if value not in members:
        raise ValueError(f"{where}: {value!r} is not one of {kind} {members}")
    return members.index(value)


def _scalar_value(kind: str, value: Any, where: str) -> Any:
    """Validate ``value`` for a scalar/enum/dtype field and return what is packed."""
    if kind in ENUMS:
        return _enum_value(kind, value, where)
    if kind == "dtype":
        if value not in DTYPE_NAMES:
            raise ValueError(f"{where}: unknown dtype {value!r}")
        return DTYPE_NAMES.index(value)
    if kind == "bytes4":
        if not isinstance(value, bytes) or len(value) != 4:
            raise ValueError(f"{where}: expected 4 bytes, got {value!r}")
        return value
    try:
        struct.pack("<" + SCALARS[kind], value)
    except (struct.error, TypeError):
        raise ValueError(f"{where}: {value!r} does not fit a {kind} field") from None
    return value


def _pack_struct(spec: StructSpec, value: Any, where: str) -> bytes:
    if not isinstance(value, dict) or set(value) != {n for n, _ in spec.fields}:
        raise ValueError(f"{where}: expected a dict with keys {[n for n, _ in spec.fields]}")
    return spec.fmt.pack(*(_scalar_value(k, value[n], f"{where}.{n}") for n, k in spec.fields))


def encode_param(w: FbWriter, param: Param, where: str) -> tuple[int, int]:
    """Write ``param``; returns (union index, table offset)."""
    spec = PARAMS_BY_NAME.get(param.type)
    if spec is None:
        raise ValueError(f"{where}: unknown param type {param.type!r}")
    where = f"{where}<{param.type}>"
    if spec.name == FULL_DTYPE:
        dtype = param.fields.get("dtype")
        if set(param.fields) != {"dtype"} or not isinstance(dtype, DType):
            raise ValueError(f"{where}: expected {{'dtype': DType(...)}}")
        return spec.union_id, encode_dtype(w, dtype)
    unknown = set(param.fields) - {f.name for f in spec.fields}
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
    b = w.b
    values = {f.name: param.fields.get(f.name, f.default) for f in spec.fields}
    vectors: dict[str, int] = {}
    for f in spec.fields:  # vectors must be written before the table starts
        if not f.kind.endswith("[]"):
            continue
        items = values[f.name]
        sub = f.struct
        if sub is None:
            vals = [_scalar_value(f.kind[:-2], v, f"{where}.{f.name}") for v in items]
            vectors[f.name] = w.scalars(SCALARS[f.kind[:-2]], vals)
        else:
            payload = b"".join(
                _pack_struct(sub, v, f"{where}.{f.name}[{i}]") for i, v in enumerate(items)
            )
            vectors[f.name] = w.raw_vector(payload, sub.fmt.size, len(items), sub.align)
    b.StartObject(len(spec.fields))
    for slot, f in enumerate(spec.fields):
        value = values[f.name]
        if f.name in vectors:
            b.PrependUOffsetTRelativeSlot(slot, vectors[f.name], 0)
        elif f.struct is not None:
            if value is not None:
                sub = f.struct
                off = w.inline_struct(_pack_struct(sub, value, f"{where}.{f.name}"), sub.align)
                b.PrependStructSlot(slot, off, 0)
        else:
            kind = f.kind
            code = "I" if kind in ENUMS else SCALARS[kind]
            packed = _scalar_value(kind, value, f"{where}.{f.name}")
            default = _scalar_value(kind, f.default, f"{where}.{f.name}")
            getattr(b, _PREPEND_SLOT[code])(slot, packed, default)
    return spec.union_id, b.EndObject()
