"""Write a :class:`~.model.ModelFile` as an FBS (v1, magic ``MGBC``) ``.mge`` file.

The layout is the one :mod:`.reader_v1` reads (and MegEngine 1.13 writes for
``dump(..., dump_format="FBS")``): the 24-byte header, every tensor value in operator
order, then the size-prefixed FlatBuffers ``Graph``.  Operators are given as the
FBS_V2 codec names them; each is written under its v1 registration
(:func:`.oprs_v1.v1_type_for`).  What v1 cannot hold is refused with a ValueError:
operators without a v1 serializer, tensor formats, output aliases.
"""

from __future__ import annotations

import struct

from . import oprs_v1
from .flatbuf import FbWriter
from .model import MGE_VERSION_1_13_0, ModelFile, Operator, TensorValue
from .param_codec import encode_dtype, encode_param
from .reader_v1 import FBS_V1_IDENTIFIER, MAGIC_MGBC
from .writer import _SHARED_TENSOR_OPRS, _check_shape, _data_bytes, write_blob
from .xxh64 import xxh64

#: seed of MegEngine's ``XXHash`` (the graph hash)
_GRAPH_HASH_SEED = 0x4B4E74B36B5D11


class _V1Writer:
    def __init__(self, model: ModelFile, keep_var_name: int) -> None:
        self.m = model
        self.keep_var_name = keep_var_name
        self.output_vars = {o.var_id for o in model.outputs}
        self.w = FbWriter(4096)
        self.b = self.w.b
        self.values: list[bytes] = []

    def comp_node(self, locator: str | None) -> int:
        loc = self.w.string(locator) if locator is not None else 0
        self.b.StartObject(1)
        if loc:
            self.b.PrependUOffsetTRelativeSlot(0, loc, 0)
        return self.b.EndObject()

    def tensor(self, t: TensorValue, where: str) -> int:
        _check_shape(t.shape, where)
        if t.format is not None and t.format.kind != "DEFAULT":
            raise ValueError(f"{where}: tensor format {t.format.kind} cannot be written as FBS "
                             "(v1); use FBS_V2")
        size = 0
        if t.data is not None:
            payload = _data_bytes(t, where)
            self.values.append(payload)
            size = len(payload)
        w, b = self.w, self.b
        name = w.string(t.name) if t.name is not None else 0
        shape = w.scalars("I", [int(d) for d in t.shape])
        cn = self.comp_node(t.comp_node)
        dtype = encode_dtype(w, t.dtype) if t.dtype is not None else 0
        b.StartObject(6)
        w.offset_slots(((0, name), (1, shape), (2, cn), (3, dtype)))
        b.PrependUint32Slot(4, size, 0)
        return b.EndObject()

    def names(self, op: Operator) -> list[str] | None:
        if self.m.vars is None or self.keep_var_name < 1:
            return None
        if self.keep_var_name == 1 and not self.output_vars.intersection(op.outputs):
            return None
        names = [self.m.vars[v].name for v in op.outputs]
        return names if names and all(names) else None

    def operator(self, op: Operator, index: int, next_var: int) -> int:
        where = f"operator #{index} ({op.type})"
        v1 = oprs_v1.v1_type_for(op.type, op.version)
        if v1 is None:
            raise ValueError(f"{where}: has no FBS (v1) serializer in MegEngine 1.13")
        problem = oprs_v1.as_read(v1).check_params([p.type for p in op.params])
        if problem:
            raise ValueError(f"{where}: {problem}")
        for v in op.inputs:
            if not 0 <= v < next_var:
                raise ValueError(f"{where}: input var {v} is not an earlier operator's output")
        if list(op.outputs) != list(range(next_var, next_var + len(op.outputs))):
            raise ValueError(
                f"{where}: outputs must be the next var ids from {next_var}, got {op.outputs}")
        count = oprs_v1.output_count(op)
        if count != len(op.outputs):
            raise ValueError(f"{where}: {len(op.outputs)} outputs, but MegEngine gives this "
                             f"operator {count if count is not None else 'an unknown number'} "
                             "when loading FBS (v1)")
        w, b = self.w, self.b
        params = [encode_param(w, p, f"{where}.params[{i}]") for i, p in enumerate(op.params)]
        extra_types = w.scalars("B", [u for u, _ in params[1:]]) if len(params) > 1 else 0
        extra = w.table_vector([off for _, off in params[1:]]) if len(params) > 1 else 0
        inputs = w.scalars("I", op.inputs) if op.inputs else 0
        cns = (w.table_vector([self.comp_node(c) for c in op.comp_nodes])
               if op.comp_nodes is not None else 0)
        names = self.names(op)
        names_off = w.table_vector([w.string(n) for n in names]) if names else 0
        out_dtype = encode_dtype(w, op.output_dtype) if op.output_dtype is not None else 0
        tensors = [self.tensor(t, f"{where}.tensors[{i}]") for i, t in enumerate(op.tensors)]
        tensors_off = w.table_vector(tensors) if tensors else 0
        blobs = list(op.blobs)
        if op.type in oprs_v1.COUNTED_HOLDERS:
            if blobs:
                raise ValueError(f"{where}: unexpected blobs {blobs!r}")
            blobs = [struct.pack("<I", len(op.tensors))]
        blobs_off = w.table_vector([self.blob(x) for x in blobs]) if blobs else 0
        name_off = w.string(op.name) if op.name is not None else 0
        b.StartObject(13)
        b.PrependUint64Slot(0, oprs_v1.persistent_id(v1), 0)
        w.offset_slots((
            (2, params[0][1] if params else 0), (3, inputs), (4, cns), (5, names_off),
            (6, out_dtype), (7, tensors_off), (9, blobs_off), (10, extra_types), (11, extra),
            (12, name_off),
        ))  # fmt: skip
        b.PrependInt32Slot(8, op.priority, 0)
        b.PrependUint8Slot(1, params[0][0] if params else 0, 0)
        return b.EndObject()

    def blob(self, data: bytes) -> int:
        return write_blob(self.w, data)

    def metadata(self) -> int:
        md = self.m.metadata
        if md is None:
            return 0
        info = self.w.string(md.user_info or b"")
        b = self.b
        b.StartObject(4)
        b.PrependBoolSlot(0, md.is_valid, False)
        b.PrependBoolSlot(1, md.graph_modified, False)
        b.PrependUOffsetTRelativeSlot(2, info, 0)
        b.PrependUint64Slot(3, md.optimize_options, 0)
        return b.EndObject()

    def write(self) -> bytes:
        m, w, b = self.m, self.w, self.b
        if m.output_aliases:
            raise ValueError("output aliases cannot be written as FBS (v1); use FBS_V2")
        meta = self.metadata()
        ops, next_var = [], 0
        for i, op in enumerate(m.operators):
            ops.append(self.operator(op, i, next_var))
            next_var += len(op.outputs)
        oprs_off = w.table_vector(ops)
        for o in m.outputs:
            if not 0 <= o.var_id < next_var:
                raise ValueError(f"output var {o.var_id} does not exist ({next_var} vars)")
        pairs = b"".join(struct.pack("<II", o.var_id, o.original_id) for o in m.outputs)
        outs_off = w.raw_vector(pairs, 8, len(m.outputs), 4)
        graph_hash = xxh64(bytes(b.Bytes[b.Head():]), _GRAPH_HASH_SEED) or 1
        nr_shared = m.nr_shared_tensor
        if nr_shared is None:
            nr_shared = sum(len(op.tensors) for op in m.operators if op.type in _SHARED_TENSOR_OPRS)
        b.StartObject(6)
        b.PrependUint64Slot(1, graph_hash, 0)
        w.offset_slots(((3, oprs_off), (4, outs_off), (5, meta)))
        b.PrependUint32Slot(0, m.mge_version or MGE_VERSION_1_13_0, 0)
        b.PrependUint32Slot(2, nr_shared, 0)
        b.FinishSizePrefixed(b.EndObject(), FBS_V1_IDENTIFIER)
        values = b"".join(self.values)
        header = struct.pack("<I8sIQ", MAGIC_MGBC, bytes(8), 0, len(values))
        return header + values + bytes(b.Output())


def write_model_v1(model: ModelFile, keep_var_name: int = 2) -> bytes:
    """Serialize ``model`` as an FBS (v1) ``.mge`` file real MegEngine 1.13 loads.

    Variable names (``model.vars``) are stored per operator, for every operator
    (``keep_var_name=2``) or, like MegEngine's default level 1, only for operators that
    produce a graph output.  Raises ValueError for what v1 cannot hold (see the module
    docstring).

    Example:
        >>> data = write_model_v1(read_model(open("net.mge", "rb").read(), "net.mge"))
        ...                                                        # doctest: +SKIP
        >>> data[:4]                                               # doctest: +SKIP
        b'MGBC'
    """
    return _V1Writer(model, keep_var_name).write()
