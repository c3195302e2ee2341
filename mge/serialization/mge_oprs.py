"""Per-operator conversion between ``.mge`` file operators and mge ``OpDef``s.

A file operator is a registered serializer name (``Convolution``, ``PoolingV1``,
``ReshapeV1``...) with param tables and input vars; an mge op is a registered ``OpDef``
(MegEngine's graph operator type name, MegEngine param field names). One
:class:`OprSpec` per op says which serializer writes it, which param tables carry its
fields, which of its outputs the file lists, and which of its params MegEngine passes
as trailing *static input vars* (Reshape's shape, AdaptivePooling's output shape,
WarpPerspective's and Resize's ``dsize``, ...). Indexing ops (``IndexDescMaskDump``)
and ``TypeCvt`` (``FullDType``) have their own converters.

Reading needs the *values* of static input vars; the caller passes a ``static(var)``
function that returns them (constants, shapes, or values folded from both).

Example:
    >>> SPECS_BY_FILE["PoolingV1"].ours, SPECS_BY_OURS["Reshape"].file
    ('PoolingForward', 'ReshapeV1')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.opdef import OpDef, get_op_class
from .fbs import DType, Operator, Param, default_fields

#: value of ``OptionalAxisV1.axis`` meaning "no axis"
INVALID_AXIS = 7
_INDEX_FLAGS = ("begin", "end", "step", "idx")


class ConvertError(ValueError):
    """An operator that cannot be converted (message without the file name)."""


@dataclasses.dataclass(frozen=True)
class OprSpec:
    """How one mge op type maps to a file operator.

    Attributes:
        ours: mge ``OpDef`` type name.
        file: serializer name MegEngine writes (and reads) for it.
        params: param tables in file order (fields are matched by name).
        outputs: ``(start, stop)`` of the mge outputs the file lists (None: all).
        static: mge params passed as trailing static input vars, in order, with their
            kind: ``"shape"`` (int vector), ``"pair"`` (2 ints), ``"int"`` (a scalar).
    """

    ours: str
    file: str
    params: tuple[str, ...] = ()
    outputs: tuple[int, int | None] | None = None
    static: tuple[tuple[str, str], ...] = ()


_EP = "ExecutionPolicy"
SPECS: tuple[OprSpec, ...] = (
    OprSpec("Elemwise", "Elemwise", ("Elemwise",)),
    OprSpec("PowC", "PowC", ("PowC",)),
    OprSpec("ConvolutionForward", "Convolution", ("Convolution", _EP)),
    OprSpec("ConvBiasForward", "ConvBiasForward", ("ConvBias", _EP)),
    OprSpec("ConvolutionBackwardData", "ConvolutionBackwardData", ("Convolution", _EP),
            static=(("output_hw", "like"),)),
    OprSpec("MatrixMul", "MatrixMulV2", ("MatrixMul",)),
    OprSpec("BatchedMatrixMul", "BatchedMatrixMulV2", ("MatrixMul",)),
    OprSpec("BatchNormForward", "BatchNormV1", ("BN",), outputs=(2, None)),
    OprSpec("SoftmaxForward", "Softmax", ("Softmax",)),
    OprSpec("PoolingForward", "PoolingV1", ("Pooling",)),
    OprSpec("AdaptivePoolingForward", "AdaptivePoolingV1", ("AdaptivePooling",),
            static=(("oshp", "pair"),)),
    OprSpec("Reduce", "ReduceV2", ("Reduce",)),
    OprSpec("Argmax", "Argmax", ("Axis",)),
    OprSpec("Argmin", "Argmin", ("Axis",)),
    OprSpec("ArgsortForward", "Argsort", ("Argsort",)),
    OprSpec("TopK", "TopK", ("TopK",), static=(("k", "int"),)),
    OprSpec("CumsumForward", "CumsumV1", ("Cumsum",)),
    OprSpec("IndexingOneHot", "IndexingOneHot", ("Axis",)),
    OprSpec("Reshape", "ReshapeV1", ("OptionalAxisV1",), static=(("shape", "shape"),)),
    OprSpec("Broadcast", "Broadcast", ("Empty",), static=(("shape", "shape"),)),
    OprSpec("Dimshuffle", "Dimshuffle", ("Dimshuffle",)),
    OprSpec("AxisAddRemove", "AxisAddRemove", ("AxisAddRemove",)),
    OprSpec("Concat", "Concat", ("Axis",)),
    OprSpec("Padding", "Padding", ("Padding",)),
    OprSpec("GetVarShape", "GetVarShapeV1", ("OptionalAxisV1",)),
    OprSpec("WarpPerspectiveForward", "WarpPerspectiveV2", ("WarpPerspective",),
            static=(("dsize", "pair"),)),
    OprSpec("ResizeForward", "ResizeV2", ("Resize",), static=(("dsize", "pair"),)),
    OprSpec("TypeCvt", "TypeCvtV2", ("FullDType",)),
    OprSpec("AssertEqual", "AssertEqual", ("AssertEqual",)),
    OprSpec("Subtensor", "Subtensor", ("IndexDescMaskDump",)),
    OprSpec("SetSubtensor", "SetSubtensor", ("IndexDescMaskDump",)),
    OprSpec("IndexingMultiAxisVec", "IndexingMultiAxisVec", ("IndexDescMaskDump",)),
    OprSpec("IndexingSetMultiAxisVec", "IndexingSetMultiAxisVec", ("IndexDescMaskDump",)),
)
SPECS_BY_OURS: dict[str, OprSpec] = {s.ours: s for s in SPECS}
SPECS_BY_FILE: dict[str, OprSpec] = {s.file: s for s in SPECS}
#: serializer names of older versions that load like the current one
SPECS_BY_FILE.update({"ConvolutionV2": SPECS_BY_OURS["ConvolutionForward"],
                      "ConvBiasForwardV4": SPECS_BY_OURS["ConvBiasForward"],
                      "ConvolutionBackwardDataV2": SPECS_BY_OURS["ConvolutionBackwardData"]})
_INDEXING = {"Subtensor", "SetSubtensor", "IndexingMultiAxisVec", "IndexingSetMultiAxisVec"}


# ------------------------------------------------------------------------------ values
def _to_param(value: Any) -> Any:
    """A file field value as an mge param value (lists to tuples, structs to tuples)."""
    if isinstance(value, dict):
        return tuple(_to_param(v) for v in value.values())
    if isinstance(value, list):
        return tuple(_to_param(v) for v in value)
    return value


def _to_field(table: str, name: str, value: Any) -> Any:
    """An mge param value as a file field value."""
    if table == "AxisAddRemove" and name == "desc":
        return [{"method": m, "axis": int(a)} for m, a in value]
    if isinstance(value, tuple):
        return list(value)
    return value


def numpy_dtype_name(dtype: DType) -> str:
    """The mge dtype name of a file dtype; ``ConvertError`` for quantized/low-bit ones."""
    if dtype.is_quantized or dtype.numpy is None or dtype.name in ("Byte", "BFloat16"):
        raise ConvertError(f"dtype {dtype.name} is not supported")
    return str(dtype.numpy.newbyteorder("="))


# ------------------------------------------------------------------------------ reading
StaticFn = Callable[[Any], "np.ndarray | None"]


def _static_param(kind: str, value: np.ndarray | None, what: str) -> Any:
    if value is None:
        raise ConvertError(f"{what} must be a value known when loading (it depends on inputs)")
    flat = np.asarray(value).reshape(-1)
    if flat.dtype.kind not in "iu":
        raise ConvertError(f"{what} must be integers, got {flat.dtype}")
    ints = tuple(int(v) for v in flat)
    if kind == "int":
        if len(ints) != 1:
            raise ConvertError(f"{what} must be one integer, got {len(ints)}")
        return ints[0]
    if kind == "pair" and len(ints) != 2:
        raise ConvertError(f"{what} must have 2 entries, got {len(ints)}")
    return ints


def _spatial(shape: Sequence[int], fmt: str) -> tuple[int, ...]:
    if len(shape) != 4:
        raise ConvertError(f"the output-shape var must be 4-d, got {tuple(shape)}")
    return tuple(shape[1:3]) if fmt == "NHWC" else tuple(shape[2:4])


def _read_indexing(fields: dict[str, Any], inputs: Sequence[Any], nr_data: int,
                   static: StaticFn, vector: bool) -> tuple[tuple, list[Any]]:
    """``items`` param and the remaining (data + index tensor) inputs."""
    rest = list(inputs[nr_data:])
    items, index_vars = [], []
    for raw in fields["items"]:
        entry: list[Any] = [int(raw["axis"])]
        for flag in _INDEX_FLAGS:
            if not raw[flag]:
                entry.append(None)
                continue
            if not rest:
                raise ConvertError("fewer index inputs than the index items need")
            var = rest.pop(0)
            value = static(var)
            if flag == "idx" and vector:
                entry.append(True)
                index_vars.append(var)
            else:
                entry.append(_static_param("int", value, f"index {flag} of axis {raw['axis']}"))
        items.append(tuple(entry))
    if rest:
        raise ConvertError(f"{len(rest)} inputs more than the index items use")
    return tuple(items), list(inputs[:nr_data]) + index_vars


def read_op(fop: Operator, inputs: Sequence[Any], static: StaticFn
            ) -> tuple[OpDef, list[Any], tuple[int, int | None] | None]:
    """The mge op for file operator ``fop``, its input vars, and its listed outputs."""
    spec = SPECS_BY_FILE.get(fop.type)
    if spec is None:
        raise ConvertError(f"operator type {fop.type!r} is not supported by mge")
    try:
        cls = get_op_class(spec.ours)
    except KeyError:
        raise ConvertError(f"operator type {fop.type!r} is not implemented in mge") from None
    fields: dict[str, Any] = {}
    for p in fop.params:
        fields.update(p.fields)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: _to_param(v) for k, v in fields.items() if k in names}
    inputs = list(inputs)
    if spec.ours == "TypeCvt":
        kwargs["dtype"] = numpy_dtype_name(fields["dtype"])
    elif spec.ours in _INDEXING:
        nr_data = 2 if spec.ours.startswith(("Set", "IndexingSet")) else 1
        kwargs["items"], inputs = _read_indexing(
            fields, inputs, nr_data, static, vector="MultiAxisVec" in spec.ours)
    if spec.static == (("output_hw", "like"),) and len(inputs) == 2:
        pass  # deconvolution without an output-shape var
    elif spec.static:
        if len(inputs) < len(spec.static):
            raise ConvertError(f"{fop.type} needs {len(spec.static)} static inputs")
        tail = inputs[len(inputs) - len(spec.static):]
        inputs = inputs[:len(inputs) - len(spec.static)]
        for (name, kind), var in zip(spec.static, tail, strict=True):
            if kind == "like":
                kwargs[name] = _spatial(var.shape, kwargs.get("format", "NCHW"))
            else:
                kwargs[name] = _static_param(kind, static(var), f"{fop.type} input {name!r}")
    if spec.ours == "Reshape" and kwargs.get("axis", INVALID_AXIS) != INVALID_AXIS:
        shape = list(kwargs["shape"])
        if 0 <= kwargs["axis"] < len(shape):
            shape[kwargs["axis"]] = -1  # the file's value at the unknown axis is ignored
        kwargs["shape"] = tuple(shape)
    try:
        op = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConvertError(f"bad params for {fop.type}: {exc}") from exc
    return op, inputs, spec.outputs


# ------------------------------------------------------------------------------ writing
ConstFn = Callable[[np.ndarray], int]
LikeFn = Callable[[], int]


def _index_flags_and_inputs(op: OpDef, inputs: list[int], const: ConstFn
                            ) -> tuple[list[dict[str, Any]], list[int]]:
    nr_data = getattr(op, "nr_data_inputs", 1)
    data, index_vars = inputs[:nr_data], list(inputs[nr_data:])
    items, extra = [], []
    for axis, *values in op.items:  # type: ignore[attr-defined]
        flags = {"axis": int(axis)}
        for flag, value in zip(_INDEX_FLAGS, values, strict=True):
            flags[flag] = value is not None
            if value is True and flag == "idx":
                extra.append(index_vars.pop(0))
            elif value is not None:
                extra.append(const(np.array([value], np.int32)))
        items.append(flags)
    return items, data + extra


def write_op(op: OpDef, inputs: list[int], const: ConstFn, like: LikeFn
             ) -> tuple[Operator, int | None]:
    """File operator for ``op`` on file vars ``inputs``.

    ``const(value)`` adds an int32 constant and ``like()`` a var of the op's output shape
    (both return the new file var id).

    Returns the operator (outputs not yet assigned) and how many of ``op``'s leading
    outputs the file omits (None: it lists them all).
    """
    spec = SPECS_BY_OURS.get(op.type_name)
    if spec is None:
        raise ConvertError(f"op {op.type_name} cannot be written to a .mge file")
    ours = op.params()
    inputs = list(inputs)
    params = []
    for table in spec.params:
        if table == "FullDType":
            params.append(Param(table, {"dtype": DType.from_numpy(ours["dtype"])}))
            continue
        fields = default_fields(table)
        if table == "IndexDescMaskDump":
            fields["items"], inputs = _index_flags_and_inputs(op, inputs, const)
        for name in fields:
            if name in ours and table != "IndexDescMaskDump":
                fields[name] = _to_field(table, name, ours[name])
        params.append(Param(table, fields))
    shape: list[int] = []
    if spec.ours == "Reshape":  # MegEngine marks the inferred entry by the axis param
        shape, axis = [int(d) for d in ours["shape"]], ours["axis"]
        if axis == INVALID_AXIS and -1 in shape:
            axis = shape.index(-1)
        if axis != INVALID_AXIS:
            shape[axis] = -1
        params[0].fields["axis"] = axis
    for name, kind in spec.static:
        if kind == "like":
            if ours[name]:
                inputs.append(like())
            continue
        value = shape if spec.ours == "Reshape" else ours[name]
        if kind == "shape" and not value:
            value = [1]  # MegEngine has no 0-d tensors: a scalar is (1,)
        inputs.append(const(np.array(value, np.int32).reshape(-1)))
    skip = spec.outputs[0] if spec.outputs else None
    return Operator(type=spec.file, inputs=inputs, params=params), skip


__all__ = [
    "INVALID_AXIS", "SPECS", "SPECS_BY_FILE", "SPECS_BY_OURS", "ConvertError", "OprSpec",
    "numpy_dtype_name", "read_op", "write_op",
]
