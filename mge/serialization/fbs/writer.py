"""Write a :class:`~.model.ModelFile` as an FBS_V2 ``.mge`` file MegEngine 1.13 loads."""

from __future__ import annotations

import numpy as np

from . import oprs
from .dtypes import DType
from .flatbuf import FbWriter
from .model import FORMAT_KINDS, ModelFile, Operator, TensorFormat, TensorValue, VarInfo
from .param_codec import encode_dtype, encode_param
from .reader import FBS_V2_IDENTIFIER, MAX_NDIM

#: operators whose tensors MegEngine dumps as shared values (counted in nr_shared_tensor)
_SHARED_TENSOR_OPRS = frozenset(
    {
        "SharedDeviceTensor",
        "VolatileSharedDeviceTensor",
        "MultipleDeviceTensorHolder",
        "MultipleDeviceTensorWithFormatHolder",
    }
)
#: alignment of tensor payloads in the file (lets readers map them without copying)
_DATA_ALIGN = 16


def _check_shape(shape: tuple[int, ...] | None, where: str) -> None:
    if shape is None:
        return
    if len(shape) > MAX_NDIM:
        raise ValueError(f"{where}: {len(shape)} dims exceed MegEngine's limit of {MAX_NDIM}")
    for d in shape:
        if not isinstance(d, (int, np.integer)) or not 0 <= d < 1 << 32:
            raise ValueError(f"{where}: bad dimension {d!r} in shape {shape}")


def _data_bytes(t: TensorValue, where: str) -> bytes:
    """The raw payload of ``t``, validated against its shape and dtype."""
    data, dtype = t.data, t.dtype
    if dtype is None:
        raise ValueError(f"{where}: a tensor with data needs a dtype")
    packed = dtype.is_lowbit or (t.format is not None and t.format.kind != "DEFAULT")
    if packed:
        if data.dtype != np.uint8 or data.ndim != 1:
            raise ValueError(f"{where}: {dtype.name} data must be raw bytes (1-D uint8)")
        return data.tobytes()
    if data.dtype != dtype.numpy or tuple(data.shape) != tuple(t.shape):
        raise ValueError(
            f"{where}: data is {data.dtype}{list(data.shape)}, expected "
            f"{dtype.numpy}{list(t.shape)} for {dtype.name}"
        )
    return np.ascontiguousarray(data).tobytes()


def write_blob(w: FbWriter, data: bytes) -> int:
    """A ``Blob`` table (one ubyte vector) of ``data``: the same in FBS_V2 and FBS v1."""
    payload = w.raw_vector(bytes(data), 1, len(data), 1)
    w.b.StartObject(1)
    w.b.PrependUOffsetTRelativeSlot(0, payload, 0)
    return w.b.EndObject()


class _ModelWriter:
    def __init__(self, model: ModelFile) -> None:
        self.m = model
        hint = sum(
            t.data.nbytes for op in model.operators for t in op.tensors if t.data is not None
        )
        self.w = FbWriter(hint + 4096)
        self.b = self.w.b

    def optional_string(self, text: str | bytes | None) -> int:
        return 0 if text is None else self.w.string(text)

    def comp_node(self, locator: str | None) -> int:
        loc = self.optional_string(locator)
        self.b.StartObject(1)
        if loc:
            self.b.PrependUOffsetTRelativeSlot(0, loc, 0)
        return self.b.EndObject()

    def tensor_format(self, fmt: TensorFormat) -> tuple[int, int]:
        """(union type, table offset) of a tensor format."""
        if fmt.kind not in FORMAT_KINDS:
            raise ValueError(f"unknown tensor format {fmt.kind!r}")
        b = self.b
        if fmt.kind == "IMAGE2D_PACK4":
            b.StartObject(1)
            b.PrependUint8Slot(0, fmt.align_axis, 0)
        elif fmt.kind == "LOWBITS_ALIGNED":
            b.StartObject(2)
            b.PrependUint8Slot(0, fmt.size_nbits, 0)
            b.PrependUint8Slot(1, fmt.align_size_in_bits, 0)
        else:
            b.StartObject(0)
        return FORMAT_KINDS.index(fmt.kind) + 1, b.EndObject()

    def described(
        self,
        name: str | None,
        shape: tuple[int, ...] | None,
        comp_node: str | None,
        dtype: DType | None,
        fmt: TensorFormat | None,
        data: bytes | None,
    ) -> int:
        """A ``Tensor`` (with ``data``) or ``MiddleTensor`` (data None) table."""
        w, b = self.w, self.b
        name_off = self.optional_string(name)
        shape_off = w.scalars("I", [int(d) for d in shape]) if shape is not None else 0
        cn_off = self.comp_node(comp_node) if comp_node is not None else 0
        dtype_off = encode_dtype(w, dtype) if dtype is not None else 0
        fmt_type, fmt_off = self.tensor_format(fmt) if fmt is not None else (0, 0)
        data_off = w.raw_vector(data, 1, len(data), _DATA_ALIGN) if data is not None else 0
        b.StartObject(7)
        w.offset_slots((
            (0, name_off),
            (1, shape_off),
            (2, cn_off),
            (3, dtype_off),
            (5, fmt_off),
            (6, data_off),
        ))
        b.PrependUint8Slot(4, fmt_type, 0)
        return b.EndObject()

    def tensor(self, t: TensorValue, where: str) -> int:
        _check_shape(t.shape, where)
        data = None if t.data is None else _data_bytes(t, where)
        return self.described(t.name, t.shape, t.comp_node, t.dtype, t.format, data)

    def var(self, v: VarInfo, where: str) -> int:
        _check_shape(v.shape, where)
        return self.described(v.name, v.shape, v.comp_node, v.dtype, v.format, None)

    def operator(self, op: Operator, index: int, next_var: int) -> int:
        where = f"operator #{index} ({op.type})"
        w, b = self.w, self.b
        reg = oprs.for_writing(op.type, self.m.model_version)
        type_id = op.type_id if op.type_id is not None else reg and reg.type_id
        version = op.version if op.version is not None else reg and reg.version
        if type_id is None or version is None:
            raise ValueError(f"{where}: unknown operator type; give type_id and version")
        known = oprs.find(op.type, version)
        if known is not None:
            if known.type_id != type_id:
                raise ValueError(f"{where}: type_id {type_id} is not {op.type}'s ({known.type_id})")
            problem = known.check_params([p.type for p in op.params])
            if problem:
                raise ValueError(f"{where}: {problem}")
        for v in op.inputs:
            if not 0 <= v < next_var:
                raise ValueError(f"{where}: input var {v} is not an earlier operator's output")
        if list(op.outputs) != list(range(next_var, next_var + len(op.outputs))):
            raise ValueError(
                f"{where}: outputs must be the next var ids from {next_var}, got {op.outputs}"
            )
        params = [encode_param(w, p, f"{where}.params[{i}]") for i, p in enumerate(op.params)]
        extra_types = w.scalars("B", [u for u, _ in params[1:]]) if len(params) > 1 else 0
        extra = w.table_vector([off for _, off in params[1:]]) if len(params) > 1 else 0
        inputs = w.scalars("I", op.inputs) if op.inputs else 0
        outputs = w.scalars("I", op.outputs)
        cns = (
            w.table_vector([self.comp_node(c) for c in op.comp_nodes])
            if op.comp_nodes is not None
            else 0
        )
        out_dtype = encode_dtype(w, op.output_dtype) if op.output_dtype is not None else 0
        tensors = [self.tensor(t, f"{where}.tensors[{i}]") for i, t in enumerate(op.tensors)]
        tensors_off = w.table_vector(tensors) if tensors else 0
        blobs_off = w.table_vector([self.blob(x) for x in op.blobs]) if op.blobs else 0
        type_off = w.string(op.type)
        name_off = self.optional_string(op.name)
        b.StartObject(15)
        w.offset_slots((
            (0, type_off),
            (2, name_off),
            (4, params[0][1] if params else 0),
            (5, extra_types),
            (6, extra),
            (7, inputs),
            (8, outputs),
            (9, cns),
            (10, out_dtype),
            (11, tensors_off),
            (14, blobs_off),
        ))
        b.PrependUint64Slot(1, type_id, 0)
        b.PrependUint8Slot(3, params[0][0] if params else 0, 0)
        b.PrependUint32Slot(12, version, 0)
        b.PrependInt32Slot(13, op.priority, 0)
        return b.EndObject()

    def blob(self, data: bytes) -> int:
        return write_blob(self.w, data)

    def metadata(self) -> int:
        md = self.m.metadata
        if md is None:
            return 0
        info = self.optional_string(md.user_info)
        b = self.b
        b.StartObject(4)
        b.PrependBoolSlot(0, md.is_valid, False)
        b.PrependBoolSlot(1, md.graph_modified, False)
        b.PrependUint64Slot(2, md.optimize_options, 0)
        if info:
            b.PrependUOffsetTRelativeSlot(3, info, 0)
        return b.EndObject()

    def write(self) -> bytes:
        m, w, b = self.m, self.w, self.b
        meta = self.metadata()
        ops, next_var = [], 0
        for i, op in enumerate(m.operators):
            ops.append(self.operator(op, i, next_var))
            next_var += len(op.outputs)
        oprs_off = w.table_vector(ops)
        outs = []
        for o in m.outputs:
            if not 0 <= o.var_id < next_var:
                raise ValueError(f"output var {o.var_id} does not exist ({next_var} vars)")
            b.StartObject(2)
            b.PrependUint32Slot(0, o.var_id, 0)
            b.PrependUint32Slot(1, o.original_id, 0)
            outs.append(b.EndObject())
        outs_off = w.table_vector(outs)
        originals = {o.original_id for o in m.outputs}
        aliases = []
        for a in m.output_aliases:
            if a.original_id not in originals:
                raise ValueError(f"alias {a.name!r} refers to no output ({a.original_id})")
            name = w.string(a.name)
            b.StartObject(2)
            b.PrependUint32Slot(0, a.original_id, 0)
            b.PrependUOffsetTRelativeSlot(1, name, 0)
            aliases.append(b.EndObject())
        aliases_off = w.table_vector(aliases)
        vars_off = 0
        if m.vars is not None:
            if len(m.vars) != next_var:
                raise ValueError(f"vars has {len(m.vars)} entries for {next_var} variables")
            vars_off = w.table_vector([self.var(v, f"vars[{i}]") for i, v in enumerate(m.vars)])
        nr_shared = m.nr_shared_tensor
        if nr_shared is None:
            nr_shared = sum(len(op.tensors) for op in m.operators if op.type in _SHARED_TENSOR_OPRS)
        b.StartObject(8)
        b.PrependUint32Slot(0, m.mge_version, 0)
        b.PrependUint32Slot(1, m.model_version, 0)
        w.offset_slots(((2, oprs_off), (3, vars_off), (4, outs_off), (5, aliases_off),
                        (7, meta)))
        b.PrependUint32Slot(6, nr_shared, 0)
        b.FinishSizePrefixed(b.EndObject(), FBS_V2_IDENTIFIER)
        return bytes(b.Output())


def write_model_v2(model: ModelFile) -> bytes:
    """Serialize ``model`` as a size-prefixed FBS_V2 FlatBuffer (identifier ``mgv2``).

    Operator type ids and versions left as None are taken from :mod:`.oprs`; the
    operator list must be topologically ordered with outputs numbered consecutively.
    Raises ValueError if the model is inconsistent.
    """
    return _ModelWriter(model).write()
