"""``.mge`` files <-> graph IR: ``load_graph``, ``dump_graph`` and the mapping between them.

The FBS_V2 and FBS (v1) codec (:mod:`mge.serialization.fbs`) reads and writes a plain ``ModelFile``;
this module turns one into a :class:`~mge.graph.Graph` and back:

* ``Host2DeviceCopy`` operators become graph inputs; ``ImmutableTensor``,
  ``SharedDeviceTensor`` and ``MultipleDeviceTensorHolder`` tensors become constants;
* every other operator maps to an mge op (:mod:`.mge_oprs`); MegEngine's static input
  vars (target shapes, ``dsize``, indices) become params. Their values are computed
  while loading (constants, static shapes, and small ops folded from both), so the
  shape-computing ``GetVarShape``/``Subtensor``/``Concat`` chains MegEngine writes end
  up unused and are left out of ``graph.ops()``.

Loading checks everything against mge's own shape rules and never executes code from
the file; any problem raises :class:`MgeFormatError` naming the file and the operator.

Example:
    >>> loaded = load_graph("model.mge")                       # doctest: +SKIP
    >>> var = loaded.output_vars_list[0]                       # doctest: +SKIP
    >>> var.owner.type, var.owner.inputs[0].dtype              # doctest: +SKIP
    ('TypeCvt', dtype('float16'))
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import IO, Any, NamedTuple

import numpy as np

from ..backends import get_backend
from ..core.apply import run_op
from ..core.opdef import OpDef, OpError, TensorInfo
from ..graph.ir import ConstOp, Graph, GraphError, Host2DeviceCopy, VarNode, make_const_op
from ..graph.static_values import fold_values, has_unknown_input
from ..ops import Elemwise
from ..ops.elemwise import MULTI_TYPE_MODES
from ..ops.quantized import ElemwiseMultiType
from ..ops.shape import AxisAddRemove, Broadcast, CondTake, Linspace, Subtensor, scalar_made_1d
from ..ops.utility import named_check
from ..ops.vision.detection import CountPrefix
from .fbs import (
    DUMP_FORMATS,
    DType,
    Metadata,
    MgeFormatError,
    ModelFile,
    Operator,
    OutputVar,
    Param,
    TensorValue,
    VarInfo,
    default_fields,
    read_model,
    write_model,
    write_model_v1,
)
from .memory_budget import MemoryBudget, MemoryBudgetError, resolve_budget
from .mge_blocked import BlockedError, Unpacker, blocked_format
from .mge_oprs import (
    INVALID_AXIS,
    ConvertError,
    ValueDependentError,
    numpy_dtype,
    read_op,
    writable,
    write_op,
)

_CONST_TYPES = ("ImmutableTensor", "SharedDeviceTensor", "VolatileSharedDeviceTensor",
                "SharedDeviceTensorWithFormat")
_HOLDER_TYPES = ("MultipleDeviceTensorHolder", "MultipleDeviceTensorWithFormatHolder")
#: ElemwiseMultiType modes with a bool output that read as the Elemwise comparison
_BOOL_MODES = MULTI_TYPE_MODES


class ValueDependentModel(MgeFormatError):
    """The model has shapes that depend on input values (MegEngine's dynamic shape vars,
    as after ``F.vision.nms`` or ``F.cond_take``): ``operator`` is the first operator
    whose static input is known only while running. :mod:`.mge_staged` reads such models
    in stages; a plain static graph cannot hold them."""

    def __init__(self, source: str, problem: str, operator: int) -> None:
        super().__init__(source, problem)
        self.operator = operator


class CompGraphLoadResult(NamedTuple):
    """What :func:`load_graph` returns (MegEngine's field names)."""

    graph: Graph
    output_vars_dict: dict[str, VarNode]
    output_vars_list: list[VarNode]
    metadata: Metadata


class CompGraphDumpResult(NamedTuple):
    """What :func:`dump_graph` reports (MegEngine's field names)."""

    nr_opr: int
    tot_bytes: int
    tensor_value_bytes: int
    content_hash: int
    inputs: list[str]
    outputs: list[str]
    params: list[str]


# ------------------------------------------------------------------------------ reading
class _Reader:
    def __init__(self, model: ModelFile, source: str, budget: int) -> None:
        self.model = model
        self.source = source
        self.budget = MemoryBudget(budget)
        self.graph = Graph()
        self.vars: dict[int, VarNode] = {}
        self.static: dict[int, np.ndarray] = {}  # mge var id -> value known at load time
        self.numpy = get_backend("numpy")

    def fail(self, problem: str) -> MgeFormatError:
        return MgeFormatError(self.source, problem)

    def var(self, file_id: int) -> VarNode:
        var = self.vars.get(file_id)
        if var is None:
            raise ConvertError(f"input var {file_id} is not available in mge (an omitted output)")
        return var

    def tensor_value(self, t: TensorValue, what: str) -> np.ndarray:
        if t.data is None or t.dtype is None:
            raise ConvertError(f"{what} has no data")
        if t.format is not None and t.format.kind != "DEFAULT":
            raise ConvertError(f"{what} has tensor format {t.format.kind} (not supported)")
        dtype = numpy_dtype(t.dtype)
        if t.data.shape != tuple(t.shape):
            raise ConvertError(f"{what}: data shape {t.data.shape} differs from {t.shape}")
        return t.data.astype(dtype, copy=False).view(dtype)

    def source_op(self, fop: Operator) -> list[VarNode]:
        if fop.type == "Host2DeviceCopy":
            if len(fop.tensors) != 1 or fop.tensors[0].dtype is None:
                raise ConvertError("Host2DeviceCopy needs one tensor description")
            t = fop.tensors[0]
            var_name = self.model.var_name(fop.outputs[0]) if fop.outputs else None
            name = t.name or var_name or f"input_{len(self.graph.inputs)}"
            dtype = numpy_dtype(t.dtype)  # quantized inputs keep their scale
            self.check_ndim(tuple(t.shape), dtype)
            self.budget.input(name, t.shape, dtype)
            try:
                return [self.graph.add_input(name, t.shape or (1,), dtype)]
            except GraphError as exc:
                raise ConvertError(str(exc)) from exc
        kind = "ImmutableTensor" if fop.type == "ImmutableTensor" else "SharedDeviceTensor"
        outs = []
        for k, t in enumerate(fop.tensors):
            value = self.tensor_value(t, f"tensor {k}").reshape(t.shape or (1,))
            self.budget.constant(t.name, value.shape, value.dtype)
            outs.append(self.graph.add_const(make_const_op(value, kind), name=t.name))
        return outs

    def check_ndim(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        if len(shape) > 7:
            raise ConvertError(f"absurd tensor shape {shape} ({dtype}): more than 7 dims")

    def add_folded(self, op: OpDef, inputs: Sequence[VarNode], name: str | None = None
                   ) -> list[VarNode]:
        """``graph.add_op``, then :meth:`fold` its outputs, inferring once where it can."""
        checked = op.check_inputs([v.info for v in inputs])
        outs = self.graph.add_op(op, inputs, name=name, infos=checked)
        self.fold(outs, checked)
        return outs

    def fold(self, outs: Sequence[VarNode], checked: Sequence[TensorInfo] | None = None
             ) -> None:
        """Record the values of ``outs`` when they can be known while loading.

        ``checked``: the output infos of the op on its inputs' own infos (``add_op``'s);
        reused when no input has a value known only while loading (else inferred again).
        """
        node = outs[0].owner
        if checked is not None and all(o.value is None for o in checked) and \
                has_unknown_input(node.inputs, self.static):
            return  # fold_values would give no value: most ops of a model
        infos = [TensorInfo(v.shape, v.dtype, self.static_value(v)) for v in node.inputs]
        if checked is not None and any(i.value is not None and not v.is_const
                                       for i, v in zip(infos, node.inputs, strict=True)):
            checked = None
        for v, value in zip(outs, fold_values(node.op, infos, checked), strict=True):
            if value is not None:
                self.static[v.id] = value

    def at_least_1d(self, var: VarNode) -> VarNode:
        """MegEngine graphs have no 0-d vars (a scalar is 1-d): give ``var`` shape (1,)."""
        if var.shape:
            return var
        (out,) = self.add_folded(AxisAddRemove(desc=(("ADD_1", 0),)), [var])
        return out

    def static_value(self, var: VarNode) -> np.ndarray | None:
        return var.value if var.is_const else self.static.get(var.id)

    def shape_of(self, fop: Operator) -> list[VarNode]:
        """``GetVarShape`` of one var stays an op (its value is known while loading, and
        re-planning for other input sizes recomputes it); of several vars, it is the
        broadcast shape, a constant."""
        inputs = [self.var(i) for i in fop.inputs]
        if not inputs:
            raise ConvertError("GetVarShape needs inputs")
        axis = fop.param("OptionalAxisV1")["axis"] if fop.params else INVALID_AXIS
        if len(inputs) == 1 and inputs[0].shape:
            return self.mapped_op(fop, inputs)
        try:
            shape = np.broadcast_shapes(*[v.shape or (1,) for v in inputs])
        except ValueError as exc:
            raise ConvertError(f"input shapes do not broadcast: {exc}") from None
        value = np.array(shape, np.int32)
        if axis != INVALID_AXIS:
            if not -len(shape) <= axis < len(shape):
                raise ConvertError(f"axis {axis} out of range for shape {shape}")
            value = value[axis:axis + 1] if axis >= 0 else value[axis:][:1]
        return [self.graph.add_const(value)]

    def split(self, fop: Operator) -> list[VarNode]:
        """MegEngine's ``Split`` (sizes as static input vars) as one Subtensor per part."""
        if not fop.inputs:
            raise ConvertError("Split needs inputs")
        x, *sizes = [self.var(i) for i in fop.inputs]
        axis = fop.param("Axis")["axis"] if fop.params else 0
        if not -x.ndim <= axis < x.ndim:
            raise ConvertError(f"axis {axis} out of range for shape {x.shape}")
        values = [self.static_value(v) for v in sizes]
        if any(v is None or v.size != 1 or v.dtype.kind not in "iu" for v in values):
            raise ConvertError("Split sizes must be integers known when loading")
        bounds = np.cumsum([0] + [int(v.reshape(-1)[0]) for v in values])
        if bounds[-1] != x.shape[axis] or np.any(np.diff(bounds) < 0):
            raise ConvertError(f"Split sizes {np.diff(bounds).tolist()} do not add up to "
                               f"{x.shape[axis]}")
        outs = []
        for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
            op = Subtensor(items=((axis % x.ndim, int(begin), int(end), None, None),))
            outs += self.graph.add_op(op, [x], name=fop.name)
        return outs

    def cond_take(self, fop: Operator) -> list[VarNode]:
        """``CondTake``'s output length is the number of mask elements selected: known
        only from the mask's value (a staged read knows it, :mod:`.mge_staged`)."""
        raise ValueDependentError("CondTake: its output length depends on the mask's "
                                  "values, known only while running")

    def linspace(self, fop: Operator) -> list[VarNode]:
        """MegEngine's ``Linspace`` takes start, stop and count as input vars: their values
        (known while loading, or in a later stage) become the op's params."""
        if len(fop.inputs) != 3:
            raise ConvertError(f"Linspace needs start, stop and num inputs, got "
                               f"{len(fop.inputs)}")
        values = [self.static_value(self.var(i)) for i in fop.inputs]
        if any(v is None for v in values):
            raise ValueDependentError("Linspace: its start, stop or num depends on input "
                                      "values, known only while running")
        if any(np.asarray(v).size != 1 for v in values):
            raise ConvertError("Linspace: start, stop and num must be single values")
        start, stop, num = (np.asarray(v).reshape(-1)[0] for v in values)
        if num != np.floor(num) or num < 0:
            raise ConvertError(f"Linspace: num must be a non-negative integer, got {num}")
        fields = {k: v for p in fop.params for k, v in p.fields.items()}
        op = Linspace(start=float(start), stop=float(stop), num=int(num),
                      endpoint=bool(fields.get("endpoint", True)))
        inputs = [self.var(i) for i in fop.inputs]
        # computed from input shapes: kept as inputs, so the graph follows other sizes
        sources = [] if all(v.is_const for v in inputs) else inputs
        return self.add_folded(op, sources, name=fop.name)

    def bool_compare(self, fop: Operator) -> list[VarNode]:
        """``ElemwiseMultiType`` with a bool output (``LT``, ``EQ``... in dumps made with
        ``no_change_graph``) is the ``Elemwise`` comparison, whose output is bool."""
        mode = fop.param(ElemwiseMultiType.mge_form.params[0])["mode"]
        if mode not in _BOOL_MODES:
            raise ConvertError(f"ElemwiseMultiType mode {mode!r} with a bool output is not "
                               f"supported by mge (only {', '.join(_BOOL_MODES)})")
        return self.add_folded(Elemwise(mode=mode), [self.var(i) for i in fop.inputs],
                               name=fop.name)

    def mapped_op(self, fop: Operator, inputs: list[VarNode]) -> list[VarNode]:
        """The mge op for ``fop`` (see :mod:`.mge_oprs`); the outputs the file lists."""
        op, inputs, listed = read_op(fop, inputs, self.static_value)
        op = named_check(op, inputs)  # a guard of a value read while tracing: named
        checked = op.check_inputs([v.info for v in inputs])
        all_outs = self.graph.add_op(op, inputs, name=fop.name, infos=checked)
        if all_outs:
            all_outs[0].owner.priority = fop.priority
        for k, v in enumerate(all_outs):
            self.check_ndim(v.shape, v.dtype)
            self.budget.result(f"output {k} of {fop.type}" + (f" {fop.name!r}" if fop.name
                                                                 else ""), v.shape, v.dtype)
        self.fold(all_outs, checked)
        outs = [self.at_least_1d(v) for v in all_outs]
        return outs if listed is None else outs[listed[0]:listed[1]]

    def op(self, fop: Operator) -> list[VarNode]:
        if fop.type == "Host2DeviceCopy" or fop.type in _CONST_TYPES + _HOLDER_TYPES:
            outs = self.source_op(fop)
            if fop.name and outs and outs[0].owner is not None:
                outs[0].owner.name = fop.name
        elif fop.type == "GetVarShapeV1":
            outs = self.shape_of(fop)
        elif fop.type == "Split":
            outs = self.split(fop)
        elif fop.type == CondTake.mge_form.file:
            outs = self.cond_take(fop)
        elif fop.type == Linspace.type_name:  # MegEngine writes it; mge folds it to a value
            outs = self.linspace(fop)
        elif fop.type == "Identity" and len(fop.inputs) == 1:  # unoptimized dumps keep it
            outs = [self.var(fop.inputs[0])]
        elif fop.type == ElemwiseMultiType.mge_form.file and fop.output_dtype is not None \
                and fop.output_dtype.name == "Bool":
            outs = self.bool_compare(fop)
        elif blocked_format(fop):
            outs = Unpacker(self.graph).convert(fop, [self.var(i) for i in fop.inputs],
                                                self.mapped_op)
        else:
            outs = self.mapped_op(fop, [self.var(i) for i in fop.inputs])
        if len(outs) != len(fop.outputs):
            raise ConvertError(f"the file lists {len(fop.outputs)} outputs, mge makes {len(outs)}")
        return outs

    def read_operator(self, k: int) -> None:
        """Read file operator ``k`` into the graph and record its output vars.

        Raises:
            ValueDependentModel: a static input of it is known only while running.
            MgeFormatError: any other problem (naming the operator).
        """
        model = self.model
        fop = model.operators[k]
        where = f"operator #{k} ({fop.type})"
        try:
            outs = self.op(fop)
        except ValueDependentError as exc:
            raise ValueDependentModel(self.source, f"{where}: {exc}", k) from None
        except (ConvertError, OpError, GraphError, BlockedError, MemoryBudgetError) as exc:
            raise self.fail(f"{where}: {exc}") from None
        except (LookupError, TypeError, ValueError, ArithmeticError) as exc:
            raise self.fail(f"{where}: malformed operator ({type(exc).__name__}: {exc})"
                            ) from None
        for file_id, var in zip(fop.outputs, outs, strict=True):
            info = model.vars[file_id] if model.vars is not None else None
            if info is not None and info.shape is not None and info.shape != var.shape:
                raise self.fail(f"{where}: the file says output {file_id} has shape "
                                f"{info.shape}, mge infers {var.shape}")
            if info is not None and info.name and not var.is_input:
                var.name = info.name
            self.vars[file_id] = var

    def read(self) -> CompGraphLoadResult:
        model = self.model
        for k in range(len(model.operators)):
            self.read_operator(k)
        outputs: list[VarNode] = []
        named: dict[str, VarNode] = {}
        for file_id, name in model.resolved_outputs():
            try:
                var = self.var(file_id)
            except ConvertError as exc:
                raise self.fail(f"output var {file_id}: {exc}") from None
            if name and not var.is_input:
                var.name = name
            outputs.append(var)
            named[name or var.name or f"output_{len(named)}"] = var
        if not outputs:
            raise self.fail("the model has no outputs")
        self.graph.outputs = outputs
        meta = model.metadata or Metadata(is_valid=False)
        return CompGraphLoadResult(self.graph, named, outputs, meta)


def graph_from_bytes(data: bytes, source_name: str = "<bytes>", *,
                     memory_budget: int | str | None = None) -> CompGraphLoadResult:
    """Load a model from bytes (see :func:`load_graph`)."""
    budget = resolve_budget(memory_budget)
    return _Reader(read_model(data, source_name), source_name, budget).read()


def load_graph(fpath: str | os.PathLike | IO[bytes], *,
               memory_budget: int | str | None = None) -> CompGraphLoadResult:
    """Load a ``.mge`` file (path or binary file object) as a graph.

    Returns ``(graph, output_vars_dict, output_vars_list, metadata)`` like MegEngine's
    ``megbrain_graph.load_graph``; vars have ``owner``, ``name``, ``dtype``, ``shape``.

    Args:
        memory_budget: the most memory (bytes, or a size such as ``"8GiB"``) the model may
            declare: every input, constant and operator output, and inputs plus constants
            plus the largest intermediate. Default: ``$MGE_LOAD_MEMORY_BUDGET``, else half
            of the machine's memory (:mod:`mge.serialization.memory_budget`).

    Raises:
        MgeFormatError: the file is malformed, uses something mge does not support or
            declares more memory than the budget; the message names the file and the
            problem.

    Example:
        >>> load_graph("model.mge", memory_budget="2GiB")  # doctest: +SKIP
    """
    if isinstance(fpath, (str, os.PathLike)):
        with open(fpath, "rb") as f:
            return graph_from_bytes(f.read(), os.fspath(fpath), memory_budget=memory_budget)
    name = getattr(fpath, "name", None)
    return graph_from_bytes(fpath.read(), name if isinstance(name, str) else "<file>",
                            memory_budget=memory_budget)


# ------------------------------------------------------------------------------ writing
class _Writer:
    def __init__(self, keep_var_name: int, keep_opr_name: bool, keep_param_name: bool,
                 output_ids: set[int]) -> None:
        self.keep_var_name = keep_var_name
        self.keep_opr_name = keep_opr_name
        self.keep_param_name = keep_param_name
        self.output_ids = output_ids
        self.operators: list[Operator] = []
        self.vars: list[VarInfo] = []
        self.ids: dict[int, int] = {}
        self.inputs: list[str] = []
        self.params: list[str] = []
        self.value_bytes = 0
        #: graph var ids an op needs as shared tensors (``OpDef.mge_shared_inputs``) and
        #: the file vars written as such
        self.shared_ids: set[int] = set()
        self.shared_files: set[int] = set()
        #: graph var ids whose shapes depend on input values (after CondTake, CountPrefix):
        #: the file gives them no shape, as MegEngine's dumps do
        self.dynamic: set[int] = set()

    def emit(self, fop: Operator, outs: Sequence[tuple[VarNode | None, tuple[int, ...]]],
             ) -> list[int]:
        fop.outputs = list(range(len(self.vars), len(self.vars) + len(outs)))
        self.operators.append(fop)
        for file_id, (var, shape) in zip(fop.outputs, outs, strict=True):
            known = var is None or var.id not in self.dynamic
            self.vars.append(VarInfo(name=self.var_name(var),
                                     shape=(shape or (1,)) if known else None))
            if var is not None:
                self.ids[var.id] = file_id
        return fop.outputs

    def var_name(self, var: VarNode | None) -> str:
        if var is None or not var.name:
            return ""
        # FBS_V2 keeps every var name from level 1 (MegEngine's middle tensors)
        if self.keep_var_name >= 1 or var.id in self.output_ids or var.is_input or var.is_const:
            return var.name
        return ""

    def const(self, value: np.ndarray, var: VarNode | None = None) -> int:
        value = value.reshape(value.shape or (1,))  # MegEngine has no 0-d tensors
        dtype = DType.from_numpy(value.dtype)
        shared = var is not None and (var.id in self.shared_ids or isinstance(
            var.owner.op, ConstOp) and var.owner.type == "SharedDeviceTensor")
        name = var.name if shared and self.keep_param_name and var is not None else None
        if shared and var is not None and var.name:
            self.params.append(var.name)
        fop = Operator(type="SharedDeviceTensor" if shared else "ImmutableTensor",
                       tensors=[TensorValue(tuple(value.shape), dtype, value, name=name)])
        if self.keep_opr_name and var is not None and var.name and var.is_const:
            fop.name = var.name  # MegEngine names a named constant's operator after it
        self.value_bytes += value.nbytes
        file_id = self.emit(fop, [(var, tuple(value.shape))])[0]
        if shared:
            self.shared_files.add(file_id)
        return file_id

    def like(self, var: VarNode) -> int:
        """A var of ``var``'s shape and dtype, cheap to store: a broadcast zero."""
        zero = self.const(np.zeros(1, var.dtype))
        shape = self.const(np.array(var.shape, np.int32))
        form = Broadcast.mge_form
        fop = Operator(type=form.file, inputs=[zero, shape],
                       params=[Param(table, {}) for table in form.params])
        return self.emit(fop, [(None, var.shape)])[0]

    def alias(self, var: VarNode, same: VarNode) -> None:
        """Write ``var`` as the file var of ``same`` (an output keeps its name)."""
        file_id = self.file_var(same)
        self.ids[var.id] = file_id
        name = self.var_name(var)
        if name and (var.id in self.output_ids or not self.vars[file_id].name):
            self.vars[file_id] = dataclasses.replace(self.vars[file_id], name=name)

    def file_var(self, var: VarNode) -> int:
        try:
            return self.ids[var.id]
        except KeyError:
            raise ValueError(f"{var!r} (output of {var.owner.type}) is not stored in .mge "
                             "files") from None

    def input(self, var: VarNode) -> None:
        shape = var.shape or (1,)  # MegEngine has no 0-d tensors
        fop = Operator(type="Host2DeviceCopy", params=[
            Param("Host2DeviceCopy", default_fields("Host2DeviceCopy"))], tensors=[
            TensorValue(shape, DType.from_numpy(var.dtype), None, name=var.name)])
        if self.keep_opr_name and var.name:  # MegEngine's input operators bear its name
            fop.name = var.name
        self.inputs.append(var.name or "")
        self.emit(fop, [(var, shape)])

    def node(self, node: Any) -> None:
        op = node.op
        if isinstance(op, Host2DeviceCopy):
            self.input(node.outputs[0])
            return
        if isinstance(op, ConstOp):
            self.const(np.ascontiguousarray(op.value), node.outputs[0])
            return
        as_value = not writable(op) or getattr(op, "value_without_inputs", False) and \
            not node.inputs
        if as_value and all(v.is_const for v in node.inputs):
            # ops without an .mge form (creation ops: Fill, Eye...) are stored as values
            result = run_op(op, *[v.value for v in node.inputs], backend=get_backend("numpy"))
            for var, value in zip(node.outputs, result if len(node.outputs) > 1 else (result,),
                                  strict=True):
                self.const(np.asarray(value, var.dtype).reshape(var.shape), var)
            return
        if scalar_made_1d(op, node.inputs, node.outputs):
            # a scalar made 1-d: the same var in a file (MegEngine has no 0-d vars)
            self.alias(node.outputs[0], node.inputs[0])
            return
        if isinstance(op, (CondTake, CountPrefix)) or any(v.id in self.dynamic
                                                          for v in node.inputs):
            self.dynamic.update(v.id for v in node.outputs)
        inputs = [self.file_var(v) for v in node.inputs]
        for k in op.mge_shared_inputs(len(inputs)):
            if inputs[k] not in self.shared_files:
                raise ConvertError(f"MegEngine needs input {k} of {op.type_name} (state it "
                                   "updates in place) to be a shared tensor (a constant, "
                                   f"a parameter), got {node.inputs[k]!r}")
        fop, listed = write_op(op, inputs, self.const, lambda: self.like(node.outputs[0]))
        if self.keep_opr_name and node.name:
            fop.name = node.name
        fop.priority = node.priority
        outs = node.outputs if listed is None else node.outputs[listed[0]:listed[1]]
        self.emit(fop, [(v, v.shape) for v in outs])


def model_from_graph(graph: Graph, *, keep_var_name: int = 1, keep_opr_name: bool = False,
                     keep_param_name: bool = False, metadata: Metadata | None = None,
                     model_version: int = 2) -> tuple[ModelFile, _Writer]:
    """The ``ModelFile`` for ``graph`` (what :func:`dump_graph` writes)."""
    names: dict[int, str | None] = {}
    for var in graph.outputs:
        if names.setdefault(var.id, var.name) != var.name:
            raise ValueError(f"{var!r} is output twice under different names")
    writer = _Writer(keep_var_name, keep_opr_name, keep_param_name, set(names))
    writer.shared_ids = {n.inputs[k].id for n in graph.ops()
                         for k in n.op.mge_shared_inputs(len(n.inputs))}
    for node in graph.ops():
        try:
            writer.node(node)
        except ConvertError as exc:
            raise ValueError(f"cannot dump {node.type} #{node.id}: {exc}") from None
    outputs = [OutputVar(writer.file_var(v), v.id) for v in graph.outputs]
    model = ModelFile(operators=writer.operators, outputs=outputs,
                      vars=writer.vars if keep_var_name > 0 else None, metadata=metadata,
                      model_version=model_version)
    return model, writer


def dump_graph(graph: Graph, *, keep_var_name: int = 1, keep_opr_name: bool = False,
               keep_param_name: bool = False, metadata: Metadata | None = None,
               model_version: int = 2,
               dump_format: str | None = None) -> tuple[bytes, CompGraphDumpResult]:
    """Serialize ``graph`` as ``dump_format`` (``"FBS_V2"``, the default, or MegEngine's
    older ``"FBS"``); returns the bytes and a :class:`CompGraphDumpResult`.

    Example:
        >>> data, info = dump_graph(graph)   # doctest: +SKIP
        >>> info.nr_opr, info.inputs         # doctest: +SKIP
        (21, ['data'])
    """
    if model_version != 2:
        raise ValueError(f"only FBS_V2 model_version 2 is supported, got {model_version}")
    if dump_format not in (None, *DUMP_FORMATS):
        raise ValueError(f"unknown dump_format {dump_format!r}; expected one of {DUMP_FORMATS}")
    graph.lint()
    model, writer = model_from_graph(graph, keep_var_name=keep_var_name,
                                     keep_opr_name=keep_opr_name, keep_param_name=keep_param_name,
                                     metadata=metadata, model_version=model_version)
    data = write_model_v1(model, keep_var_name=keep_var_name) if dump_format == "FBS" \
        else write_model(model)
    info = CompGraphDumpResult(
        nr_opr=len(model.operators), tot_bytes=len(data),
        tensor_value_bytes=writer.value_bytes, content_hash=0, inputs=sorted(writer.inputs),
        outputs=[v.name or "" for v in graph.outputs], params=writer.params)
    return data, info


__all__ = ["CompGraphDumpResult", "CompGraphLoadResult", "MgeFormatError", "dump_graph",
           "graph_from_bytes", "load_graph", "model_from_graph"]
