"""Read an FBS (v1) ``.mge`` model file into a :class:`~.model.ModelFile`.

Layout (MegEngine's ``GraphDumperOSS``)::

    "MGBC"  feature bits (8 bytes)  reserved (4)  u64 offset_to_fbs   (24-byte header)
    "MGBS"                          reserved (4)  u64 offset_to_fbs   (16-byte header, older)
    tensor values, one after another, in operator order
    size-prefixed FlatBuffers ``Graph`` (identifier "mgb1") at header + offset_to_fbs

Unlike FBS_V2 the tensor values live outside the FlatBuffer (each ``Tensor`` records
its ``data_size`` and a leading ``offset`` to skip), operators carry no output list
(see :func:`.oprs_v1.output_count`) and names of variables sit on their operator
(``output_name``).  The result reads like an FBS_V2 file: operators are named as
:func:`.oprs_v1.as_read` says, so the rest of mge treats both formats alike.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from . import oprs_v1
from .errors import MgeFormatError
from .flatbuf import FbReader, Table
from .model import MODEL_VERSION, Metadata, ModelFile, Operator, OutputVar, TensorValue, VarInfo
from .reader import _blob, _comp_node, _dtype, _op_params, _shape, _text

#: FlatBuffers file identifier of the v1 graph
FBS_V1_IDENTIFIER = b"mgb1"
#: magic of current v1 files (with feature bits) and of older ones (unversioned type ids)
MAGIC_MGBC = 0x4342474D
MAGIC_MGBS = 0x5342474D

_OUTPUT_VAR = struct.Struct("<II")


class _TensorData:
    """Hands out the out-of-band tensor values in file order, checking every bound."""

    def __init__(self, data: bytes, source: str, begin: int, end: int) -> None:
        self.data, self.source, self.pos, self.end = data, source, begin, end

    def take(self, t: Table, value: TensorValue, is_input: bool) -> np.ndarray | None:
        """The value of tensor ``t`` (described by ``value``); None where the file has
        none (a graph input's description)."""
        size = t.scalar(4, "I", 0, "data_size")
        shape, dtype = value.shape, value.dtype
        if not size:  # an empty tensor's value takes no bytes (MegEngine loads it so)
            empty = not is_input and dtype is not None and dtype.nbytes(math.prod(shape)) == 0
            if not empty:
                return None
            return np.zeros(0, np.uint8) if dtype.is_lowbit else np.zeros(shape, dtype.numpy)
        skip = t.scalar(5, "I", 0, "offset")
        begin = self.pos
        if begin + size > self.end:
            raise MgeFormatError(
                self.source,
                f"{t.what}: value of {size} bytes at file offset {begin} runs past the "
                f"tensor area, which ends at offset {self.end} (truncated or corrupted)",
            )
        self.pos += size
        if dtype is None:
            raise MgeFormatError(self.source, f"{t.what}: tensor has a value but no dtype")
        need = dtype.nbytes(math.prod(shape))
        if skip + need > size:
            raise MgeFormatError(
                self.source,
                f"{t.what}: value at file offset {begin} has {size} bytes; shape "
                f"{list(shape)} of {dtype.name} needs {need} after skipping {skip}",
            )
        start = begin + skip
        if dtype.is_lowbit:
            return np.frombuffer(self.data, np.uint8, need, start)
        count = math.prod(shape)
        return np.frombuffer(self.data, dtype.numpy, count, start).reshape(shape)


def _tensor(t: Table, values: _TensorData, is_input: bool) -> TensorValue:
    comp_node = _comp_node(t.table(2, "comp_node"))
    if comp_node is None:
        t.r.fail(f"{t.what}: tensor has no comp node")
    value = TensorValue(
        shape=tuple(_shape(t, 1) or ()),
        dtype=_dtype(t, 3),
        name=_text(t.string(0, "name")),
        comp_node=comp_node,
        format=None,
    )
    value.data = values.take(t, value, is_input)
    return value


def _operator(
    r: FbReader, t: Table, next_var: int, values: _TensorData, unversioned: bool
) -> tuple[Operator, list[str] | None]:
    what = t.what
    stored_id = t.scalar(0, "Q", 0, "type_id")
    v1 = oprs_v1.find_v1(stored_id, unversioned)
    if v1 is None:
        r.fail(f"{what}: unknown operator type id {stored_id:#x} (not a MegEngine 1.13 "
               "FBS serializer)")
    shown = oprs_v1.as_read(v1)
    params = _op_params(r, t, (1, 2, 10, 11))
    problem = shown.check_params([p.type for p in params])
    if problem:
        r.fail(f"{what}: {problem}")
    inputs = list(t.scalars(3, "I", "inputs") or ())
    for v in inputs:
        if v >= next_var:
            r.fail(f"{what}: input var {v} is not produced by an earlier operator")
    cn_tables = t.tables(4, "comp_node") if t.has(4) else None
    op = Operator(
        type=shown.name,
        inputs=inputs,
        params=params,
        tensors=[_tensor(x, values, shown.name == "Host2DeviceCopy")
                 for x in t.tables(7, "tensors")],
        name=_text(t.string(12, "name")),
        type_id=shown.type_id,
        version=shown.version,
        comp_nodes=None if cn_tables is None else [_comp_node(c) for c in cn_tables],
        output_dtype=_dtype(t, 6),
        priority=t.scalar(8, "i", 0, "priority"),
        blobs=[_blob(b) for b in t.tables(9, "blobs")],
    )
    if op.type in oprs_v1.COUNTED_HOLDERS:
        if op.blobs != [struct.pack("<I", len(op.tensors))]:
            r.fail(f"{what}: {op.type} holds {len(op.tensors)} tensors, but its count blob "
                   f"is {op.blobs!r}")
        op.blobs = []
    raw_names = t.strings(5, "output_name")
    names = None if raw_names is None else [_text(n) or "" for n in raw_names]
    count = oprs_v1.output_count(op)
    if names is not None:
        if count is not None and count != len(names):
            r.fail(f"{what} ({op.type}): {len(names)} output names, but the operator "
                   f"has {count} outputs")
        count = len(names)
    if count is None:
        r.fail(f"{what}: the number of outputs of {op.type} is not known for FBS (v1) "
               "files without variable names; re-dump the model as FBS_V2")
    op.outputs = list(range(next_var, next_var + count))
    return op, names


def _metadata(t: Table | None) -> Metadata | None:
    if t is None:
        return None
    return Metadata(
        is_valid=bool(t.scalar(0, "?", False, "is_valid")),
        graph_modified=bool(t.scalar(1, "?", False, "graph_modified")),
        user_info=t.string(2, "user_info"),
        optimize_options=t.scalar(3, "Q", 0, "optimize_options"),
    )


def _header(data: bytes, source: str) -> tuple[bool, int, int]:
    """(unversioned ids, tensor area start, graph start) from the file header."""
    (magic,) = struct.unpack_from("<I", data)
    unversioned = magic == MAGIC_MGBS
    begin = 16 if unversioned else 24
    if len(data) < begin + 4:
        raise MgeFormatError(source, f"FBS (v1) file is truncated: {len(data)} bytes, the "
                                     f"header alone needs {begin}")
    (offset,) = struct.unpack_from("<Q", data, begin - 8)
    graph = begin + offset
    if graph + 4 > len(data):
        raise MgeFormatError(source, f"FBS (v1) file is truncated or corrupted: the graph "
                                     f"should start at offset {graph}, the file has "
                                     f"{len(data)} bytes")
    return unversioned, begin, graph


def read_model_v1(data: bytes, source_name: str) -> ModelFile:
    """Parse an FBS (v1) model (magic ``MGBC`` or ``MGBS``); problems raise
    :class:`MgeFormatError` naming the file and the offset.

    Nothing in the file is executed.  Tensor values are read-only views of ``data``.

    Example:
        >>> model = read_model_v1(open("old.mge", "rb").read(), "old.mge")  # doctest: +SKIP
        >>> [op.type for op in model.operators][:2]                          # doctest: +SKIP
        ['Host2DeviceCopy', 'ImmutableTensor']
    """
    data = bytes(data)
    unversioned, begin, graph = _header(data, source_name)
    (size,) = struct.unpack_from("<I", data, graph)
    end = graph + 4 + size
    if end > len(data):
        raise MgeFormatError(source_name, f"FBS (v1) file is truncated: the graph at offset "
                                          f"{graph} needs {end} bytes, the file has {len(data)}")
    buf = data[graph:end]
    if size < 8 or buf[8:12] != FBS_V1_IDENTIFIER:
        raise MgeFormatError(source_name, f"no FBS (v1) graph (identifier 'mgb1') at file "
                                          f"offset {graph}: corrupted file")
    try:
        return _read_graph(FbReader(buf, source_name), data, source_name, begin, graph,
                           unversioned)
    except MgeFormatError as exc:
        if "file offset" in exc.problem:
            raise
        raise MgeFormatError(source_name, f"{exc.problem} [offsets relative to the graph "
                                          f"at file offset {graph}]") from None


def _read_graph(r: FbReader, data: bytes, source: str, begin: int, graph_at: int,
                unversioned: bool) -> ModelFile:
    graph = r.root(4, "graph")
    values = _TensorData(data, source, begin, graph_at)
    operators: list[Operator] = []
    names: list[str] = []
    any_names = False
    for i, t in enumerate(graph.tables(3, "oprs")):
        t.what = f"operator #{i}"
        op, op_names = _operator(r, t, len(names), values, unversioned)
        any_names = any_names or op_names is not None
        names += op_names if op_names is not None else [""] * len(op.outputs)
        operators.append(op)
    outputs = []
    for i, (var, original) in enumerate(graph.structs(4, _OUTPUT_VAR, "output_vars_idx") or ()):
        if var >= len(names):
            r.fail(f"graph.output_vars_idx[{i}]: output var {var} does not exist "
                   f"({len(names)} vars)")
        outputs.append(OutputVar(var, original))
    return ModelFile(
        operators=operators,
        outputs=outputs,
        vars=[VarInfo(name=n) for n in names] if any_names else None,
        metadata=_metadata(graph.table(5, "metadata")),
        mge_version=graph.scalar(0, "I", 0, "mgb_version"),
        model_version=MODEL_VERSION,
        nr_shared_tensor=graph.scalar(2, "I", 0, "nr_shared_tensor"),
    )
