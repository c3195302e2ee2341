"""Per-operator conversion between ``.mge`` file operators and mge ``OpDef``s.

A file operator is a registered serializer name (``Convolution``, ``PoolingV1``,
``ReshapeV1``...) with param tables and input vars; an mge op is a registered ``OpDef``
(MegEngine's graph operator type name, MegEngine param field names). Each op class
declares its :class:`~mge.core.opdef.MgeForm`: which serializer writes it (and which
older names read like it), which param tables carry its fields, which of its outputs
the file lists, and which of its params MegEngine passes as trailing *static input
vars* (Reshape's shape, AdaptivePooling's output shape, WarpPerspective's and Resize's
``dsize``, ...). Indexing ops (``IndexDescMaskDump``) and ``TypeCvt`` (``FullDType``)
have their own converters here.

Reading needs the *values* of static input vars; the caller passes a ``static(var)``
function that returns them (constants, shapes, or values folded from both).

Example:
    >>> from mge.ops.shape import Reshape
    >>> op_class_for_file("PoolingV1").__name__, Reshape.mge_form.file
    ('PoolingForward', 'ReshapeV1')
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.opdef import REGISTRY, MgeForm, OpDef
from ..dtype import canonical_dtype, dtype_spec, is_quantize
from ..graph.static_values import source_count
from ..ops import TypeCvt
from ..ops.elemwise import MULTI_TYPE_MODES, Elemwise
from ..ops.quantized import ElemwiseMultiType
from ..ops.reduce import REDUCE_ALL, Reduce, TopK
from ..ops.shape import AxisAddRemove, IndexingOp, Reshape, SetIndexingOp
from .fbs import PARAMS_BY_NAME, DType, Operator, Param, default_fields

#: value of ``OptionalAxisV1.axis`` meaning "no axis"
INVALID_AXIS = 7
_INDEX_FLAGS = ("begin", "end", "step", "idx")


class ConvertError(ValueError):
    """An operator that cannot be converted (message without the file name)."""


class ValueDependentError(ConvertError):
    """A static input (an index bound, a target shape, a count) whose value depends on the
    values of the model's inputs, not only on their shapes: known only while running
    (:mod:`mge.serialization.mge_staged` reads such files in stages)."""


_by_file: dict[str, type[OpDef]] = {}
_indexed = [0]  # how many registered ops _by_file was built from


def op_class_for_file(file_type: str) -> type[OpDef] | None:
    """The op class that reads file operators of serializer name ``file_type`` (current
    or legacy name), from the ops' own ``mge_form``; ``None`` when no op reads it."""
    if _indexed[0] != len(REGISTRY):  # (re)built when ops were registered since
        _indexed[0] = len(REGISTRY)
        for cls in REGISTRY.values():
            form = cls.mge_form
            if isinstance(form, MgeForm) and form.reads:
                for name in (form.file, *form.legacy):
                    _by_file[name] = cls
    return _by_file.get(file_type)


def writable(op: OpDef) -> bool:
    """True when ``op`` has a ``.mge`` operator form."""
    return isinstance(op.mge_form, MgeForm)


# ------------------------------------------------------------------------------ values
def _to_param(value: Any) -> Any:
    """A file field value as an mge param value (lists to tuples, structs to tuples)."""
    if isinstance(value, dict):
        return tuple(_to_param(v) for v in value.values())
    if isinstance(value, list):
        return tuple(_to_param(v) for v in value)
    return value


@functools.cache
def _dtype_fields(table: str) -> frozenset[str]:
    """The fields of param table ``table`` holding a dtype (``DTypeEnum`` names)."""
    spec = PARAMS_BY_NAME.get(table)
    return frozenset(f.name for f in spec.fields if f.kind == "dtype") if spec else frozenset()


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    """The param names of op class ``cls`` (its dataclass fields)."""
    return frozenset(f.name for f in dataclasses.fields(cls))


def _to_field(op: OpDef, name: str, value: Any, dtype_field: bool = False) -> Any:
    """An mge param value as a file field value (a numpy dtype name in a dtype field:
    its ``DTypeEnum`` name, ``"float32"`` -> ``"Float32"``)."""
    if dtype_field:
        return DType.from_numpy(canonical_dtype(value)).name
    if isinstance(op, AxisAddRemove) and name == "desc":
        return [{"method": m, "axis": int(a)} for m, a in value]
    if isinstance(value, tuple):
        return list(value)
    return value


def numpy_dtype(dtype: DType) -> np.dtype:
    """The numpy dtype of values of a file dtype (quantized ones with their scale and zero
    point); ``ConvertError`` for packed low-bit, ``Byte`` and ``BFloat16`` types."""
    full = dtype.numpy_full
    if full is None or dtype.name in ("Byte", "BFloat16"):
        raise ConvertError(f"dtype {dtype.name} is not supported")
    return full


def numpy_dtype_name(dtype: DType) -> str:
    """The mge dtype name of a file dtype; ``ConvertError`` for quantized/low-bit ones."""
    if dtype.is_quantized or dtype.numpy is None or dtype.name in ("Byte", "BFloat16"):
        raise ConvertError(f"dtype {dtype.name} is not supported")
    return str(dtype.numpy.newbyteorder("="))


# ------------------------------------------------------------------------------ reading
StaticFn = Callable[[Any], "np.ndarray | None"]


def _static_param(kind: str, value: np.ndarray | None, what: str) -> Any:
    if value is None:
        raise ValueDependentError(f"{what} must be a value known when loading (it depends "
                                  "on input values)")
    flat = np.asarray(value).reshape(-1)
    if flat.dtype.kind == "f" and np.isfinite(flat).all() and (flat == np.round(flat)).all():
        flat = flat.astype(np.int64)  # MegEngine casts some shape vars to float32 (Alloc's)
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
    """The spatial sizes of an output-shape var of a deconvolution in format ``fmt``."""
    ndim = 5 if fmt == "NCDHW" else 4
    if len(shape) != ndim:
        raise ConvertError(f"the output-shape var must be {ndim}-d, got {tuple(shape)}")
    return tuple(shape[1:3]) if fmt == "NHWC" else tuple(shape[2:])


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
            if flag == "idx" and vector:  # a tensor index: its value is never a param
                entry.append(True)
                index_vars.append(var)
            else:
                entry.append(_static_param("int", static(var),
                                           f"index {flag} of axis {raw['axis']}"))
        items.append(tuple(entry))
    if rest:
        raise ConvertError(f"{len(rest)} inputs more than the index items use")
    return tuple(items), list(inputs[:nr_data]) + index_vars


def read_op(fop: Operator, inputs: Sequence[Any], static: StaticFn
            ) -> tuple[OpDef, list[Any], tuple[int, int | None] | None]:
    """The mge op for file operator ``fop``, its input vars, and its listed outputs."""
    cls = op_class_for_file(fop.type)
    if cls is None:
        raise ConvertError(f"operator type {fop.type!r} is not supported by mge")
    spec = cls.mge_form
    fields: dict[str, Any] = {}
    dtypes: frozenset[str] = frozenset()
    for p in fop.params:
        fields.update(p.fields)
        dtypes |= _dtype_fields(p.type)
    names = _field_names(cls)
    kwargs = {k: _to_param(v) for k, v in fields.items() if k in names}
    for k in dtypes & kwargs.keys():  # a DTypeEnum name as the numpy dtype name
        kwargs[k] = numpy_dtype(DType(kwargs[k])).name
    inputs = list(inputs)
    sources: list[Any] = []
    if cls is TypeCvt:
        kwargs["dtype"] = dtype_spec(numpy_dtype(fields["dtype"]))
    elif "dtype" in names and fop.output_dtype is not None:
        kwargs["dtype"] = dtype_spec(numpy_dtype(fop.output_dtype))  # quantized outputs
    elif issubclass(cls, IndexingOp):
        nr_data = 2 if issubclass(cls, SetIndexingOp) else 1
        kwargs["items"], inputs = _read_indexing(
            fields, inputs, nr_data, static, vector=cls.vector_index)
    if len(spec.static) == 1 and spec.static[0][1] == "like" and len(inputs) == 2:
        pass  # deconvolution without an output-shape var
    elif spec.static:
        if len(inputs) < len(spec.static):
            raise ConvertError(f"{fop.type} needs {len(spec.static)} static inputs")
        tail = inputs[len(inputs) - len(spec.static):]
        inputs = inputs[:len(inputs) - len(spec.static)]
        if hasattr(cls, "with_sources") and not all(v.is_const for v in tail):
            sources = tail  # computed from input shapes: kept, to re-plan other sizes
        for (name, kind), var in zip(spec.static, tail, strict=True):
            if kind == "like":
                kwargs[name] = _spatial(var.shape, kwargs.get("format", "NCHW"))
            else:
                kwargs[name] = _static_param(kind, static(var), f"{fop.type} input {name!r}")
    if cls is TopK and kwargs.get("mode") != "KTH_ONLY" and inputs and inputs[0].shape:
        cols = inputs[0].shape[-1]  # MegEngine keeps at most the row (F.topk(k > n))
        kwargs["k"] = int(np.sign(kwargs["k"])) * min(abs(kwargs["k"]), cols) or kwargs["k"]
    if cls is Reduce and len(inputs) == 2:
        inputs = inputs[:1] + _whole_reduce_target(kwargs, static(inputs[1]))
    if cls is Reshape and kwargs.get("axis", INVALID_AXIS) != INVALID_AXIS:
        shape = list(kwargs["shape"])
        if 0 <= kwargs["axis"] < len(shape):
            shape[kwargs["axis"]] = -1  # the file's value at the unknown axis is ignored
        kwargs["shape"] = tuple(shape)
    try:
        op = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConvertError(f"bad params for {fop.type}: {exc}") from exc
    return op, inputs + sources, op.mge_outputs(len(inputs) + len(sources))


def _whole_reduce_target(kwargs: dict[str, Any], target: np.ndarray | None) -> list[Any]:
    """MegEngine writes a reduction of all elements (``F.mean(x)``) as ``Reduce`` without
    an axis and a second input, the target shape ``[1]``; mge's is ``axis=REDUCE_ALL``
    (the reader gives its 0-d result shape (1,), as MegEngine has it)."""
    if target is None or kwargs.get("axis", REDUCE_ALL) != REDUCE_ALL \
            or int(np.prod(target)) != 1:
        raise ConvertError(f"ReduceV2 to the target shape {target} (axis "
                           f"{kwargs.get('axis')}) is not supported by mge: only a reduction "
                           "of all elements to [1]")
    return []


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
            if value is True:  # a tensor index, or a bound from a var (CountPrefix's end)
                extra.append(index_vars.pop(0))
            elif value is not None:
                extra.append(const(np.array([value], np.int32)))
        items.append(flags)
    return items, data + extra


def write_op(op: OpDef, inputs: list[int], const: ConstFn, like: LikeFn
             ) -> tuple[Operator, tuple[int, int | None] | None]:
    """File operator for ``op`` on file vars ``inputs``.

    ``const(value)`` adds an int32 constant and ``like()`` a var of the op's output shape
    (both return the new file var id).

    Returns the operator (outputs not yet assigned) and the ``(start, stop)`` of
    ``op``'s outputs the file lists (None: all; see ``OpDef.mge_outputs``).
    """
    spec = op.mge_form
    why = spec.reason if not isinstance(spec, MgeForm) else op.unwritable()
    if why is not None:
        raise ConvertError(f"op {op.type_name} cannot be written to a .mge file ({why})")
    ours = op.params()
    listed = op.mge_outputs(len(inputs))
    inputs = list(inputs)
    nr_sources = source_count(op, len(inputs))
    sources = inputs[len(inputs) - nr_sources:] if nr_sources else []
    inputs = inputs[:len(inputs) - nr_sources]
    params = []
    for table in spec.params:
        if table == "FullDType":
            params.append(Param(table, {"dtype": DType.from_numpy(canonical_dtype(ours["dtype"]))}))
            continue
        fields = default_fields(table)
        if table == "IndexDescMaskDump":
            fields["items"], inputs = _index_flags_and_inputs(op, inputs, const)
        dtypes = _dtype_fields(table)
        for name in fields:
            if name in ours and table != "IndexDescMaskDump":
                fields[name] = _to_field(op, name, ours[name], name in dtypes)
        params.append(Param(table, fields))
    shape: list[int] = []
    if isinstance(op, Reshape):  # MegEngine marks the inferred entry by the axis param
        shape, axis = [int(d) for d in ours["shape"]], ours["axis"]
        if axis == INVALID_AXIS and -1 in shape:
            axis = shape.index(-1)
        if axis != INVALID_AXIS:
            shape[axis] = -1
        params[0].fields["axis"] = axis
    for (name, kind), source in zip(spec.static, sources or [None] * len(spec.static),
                                    strict=True):
        if source is not None:
            inputs.append(source)  # the var the value is computed from (a shape chain)
            continue
        if kind == "like":
            if ours[name]:
                inputs.append(like())
            continue
        value = shape if isinstance(op, Reshape) else ours[name]
        if kind == "shape" and not value:
            value = [1]  # MegEngine has no 0-d tensors: a scalar is (1,)
        inputs.append(const(np.array(value, np.int32).reshape(-1)))
    if isinstance(op, Reduce) and op.axis == REDUCE_ALL:  # MegEngine's target shape input
        inputs.append(const(np.array([1], np.int32)))
    out_dtype = None
    if "FullDType" not in spec.params and ours.get("dtype"):
        dt = canonical_dtype(ours["dtype"])
        out_dtype = DType.from_numpy(dt) if is_quantize(dt) else None  # quantized outputs
    if isinstance(op, Elemwise) and op.mode in MULTI_TYPE_MODES:
        form = ElemwiseMultiType.mge_form
        return Operator(type=form.file, inputs=inputs,
                        params=[Param(form.params[0], {"mode": op.mode})],
                        output_dtype=DType.from_numpy(np.dtype(np.bool_))), listed
    return Operator(type=spec.file, inputs=inputs, params=params, output_dtype=out_dtype), listed


__all__ = [
    "INVALID_AXIS", "ConvertError", "ValueDependentError", "numpy_dtype", "numpy_dtype_name",
    "op_class_for_file", "read_op", "write_op", "writable",
]
