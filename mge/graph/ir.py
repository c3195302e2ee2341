"""The static graph IR: ``VarNode``, ``OpNode`` and ``Graph`` (what a ``.mge`` file stores).

Every var is produced by exactly one ``OpNode`` (its ``owner``), as in MegEngine: graph
inputs are produced by ``Host2DeviceCopy`` source ops and constants by ``ImmutableTensor``
or ``SharedDeviceTensor`` source ops. Source ops are graph-level only: they are ``OpDef``s
but not in the op ``REGISTRY`` (no kernel runs them; the executor feeds them). Every other
op is a registered ``OpDef`` with MegEngine's type name and param fields.

A graph is defined by its ``outputs``; ``ops()`` lists what they depend on in topological
order. Passes rewrite graphs with ``add_op`` / ``add_const`` / ``replace_var`` and must
keep :meth:`Graph.lint` passing.

Example:
    >>> import numpy as np
    >>> from mge.ops import Elemwise
    >>> g = Graph()
    >>> x = g.add_input("x", (2, 3), "float32")
    >>> (y,) = g.add_op(Elemwise(mode="RELU"), [x])
    >>> g.outputs = [y]
    >>> g.lint()
    >>> print(g)
    graph(%x: f32[2,3]) {
      %2 = Elemwise(%x, mode=RELU) -> f32[2,3]
      return %2
    }
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from ..core.opdef import OpDef, OpError, TensorInfo
from ..dtype import canonical_dtype, dtype_spec


class GraphError(ValueError):
    """A malformed graph (found by ``lint`` or by a graph edit)."""


# --------------------------------------------------------------------------- source ops
@dataclasses.dataclass(frozen=True)
class Host2DeviceCopy(OpDef):
    """A graph input (MegEngine's ``Host2DeviceCopy``): fed by the caller at run time."""

    type_name: ClassVar[str] = "Host2DeviceCopy"
    nr_inputs: ClassVar[tuple[int, ...]] = (0,)
    shape: tuple[int, ...] = ()
    dtype: str = "float32"

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        return [TensorInfo(tuple(self.shape), canonical_dtype(self.dtype))]


@dataclasses.dataclass(frozen=True, eq=False)
class ConstOp(OpDef):
    """A constant tensor; ``value`` is a read-only numpy array."""

    nr_inputs: ClassVar[tuple[int, ...]] = (0,)
    value: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((), np.float32))

    def infer(self, inputs: Sequence[TensorInfo]) -> list[TensorInfo]:
        return [TensorInfo(self.value.shape, self.value.dtype, self.value)]

    def params(self) -> dict[str, Any]:
        return {}


@dataclasses.dataclass(frozen=True, eq=False)
class ImmutableTensor(ConstOp):
    """A constant baked into the graph (MegEngine's ``ImmutableTensor``)."""

    type_name: ClassVar[str] = "ImmutableTensor"


@dataclasses.dataclass(frozen=True, eq=False)
class SharedDeviceTensor(ConstOp):
    """A parameter tensor (MegEngine's ``SharedDeviceTensor``); constant at inference."""

    type_name: ClassVar[str] = "SharedDeviceTensor"


def make_const_op(value: Any, kind: str = "ImmutableTensor") -> ConstOp:
    """A const source op holding a read-only copy of ``value`` in an mge dtype (no copy
    when ``value`` is already an aligned, C-contiguous, read-only view of immutable
    ``bytes`` in that dtype: e.g. weights read from a model file)."""
    cls = {"ImmutableTensor": ImmutableTensor, "SharedDeviceTensor": SharedDeviceTensor}[kind]
    arr = np.asarray(value)
    dtype = canonical_dtype(arr.dtype)
    if not (arr.dtype == dtype and _views_immutable_bytes(arr)):
        arr = np.array(arr, dtype=dtype, order="C", copy=True)
        arr.setflags(write=False)
    return cls(value=arr)


def _views_immutable_bytes(arr: np.ndarray) -> bool:
    """Whether ``arr`` is an aligned, C-contiguous, read-only view whose memory belongs
    to a ``bytes`` object (which nothing can change)."""
    if arr.flags.writeable or not (arr.flags.c_contiguous and arr.flags.aligned):
        return False
    base = arr.base
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    return type(base) is bytes


# --------------------------------------------------------------------------- nodes
_DTYPE_ABBR = {
    "float32": "f32", "float16": "f16", "int32": "i32", "int16": "i16", "int8": "i8",
    "uint8": "u8", "uint16": "u16", "bool": "b8",
}


def format_type(shape: Sequence[int], dtype: np.dtype) -> str:
    """``f32[1,3,224,224]``: a short type string for a var."""
    abbr = _DTYPE_ABBR.get(str(dtype), str(dtype))
    return f"{abbr}[{','.join(str(d) for d in shape)}]"


class VarNode:
    """A tensor in a graph: produced by ``owner`` (an ``OpNode``), with static shape and dtype.

    ``name`` is the MegEngine var name (``None`` when unnamed); ``value`` is the data of a
    constant and ``None`` otherwise; ``inputs`` is a shortcut for ``owner.inputs``.
    """

    __slots__ = ("id", "name", "shape", "dtype", "owner", "__weakref__")

    def __init__(self, id: int, shape: Sequence[int], dtype: Any, name: str | None = None):
        self.id = id
        self.name = name
        self.shape = tuple(map(int, shape))
        self.dtype = np.dtype(dtype)
        self.owner: OpNode = None  # type: ignore[assignment]  # set by the owner

    @property
    def value(self) -> np.ndarray | None:
        op = self.owner.op
        return op.value if isinstance(op, ConstOp) else None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_input(self) -> bool:
        return isinstance(self.owner.op, Host2DeviceCopy)

    @property
    def is_const(self) -> bool:
        return isinstance(self.owner.op, ConstOp)

    @property
    def inputs(self) -> tuple[VarNode, ...]:
        return tuple(self.owner.inputs)

    @property
    def info(self) -> TensorInfo:
        return TensorInfo(self.shape, self.dtype, self.value)

    @property
    def ref(self) -> str:
        """``%name`` (or ``%id`` when unnamed), as in the text form."""
        return f"%{self.name}" if self.name else f"%{self.id}"

    def __repr__(self) -> str:
        return f"<VarNode {self.ref}: {format_type(self.shape, self.dtype)}>"


class OpNode:
    """One operator application: ``op`` (an ``OpDef``) on ``inputs`` giving ``outputs``.

    ``type`` is the MegEngine operator type name and ``params`` its param dict;
    ``priority`` is MegEngine's operator priority (0 unless set; lower runs first where
    the order is free, see ``comp_graph_tools.get_oprs_seq``).
    """

    __slots__ = ("id", "op", "inputs", "outputs", "name", "priority", "__weakref__")

    def __init__(self, id: int, op: OpDef, inputs: Sequence[VarNode], name: str | None = None):
        self.id = id
        self.op = op
        self.inputs: list[VarNode] = list(inputs)
        self.outputs: list[VarNode] = []
        self.name = name
        self.priority = 0

    @property
    def type(self) -> str:
        return self.op.type_name

    @property
    def params(self) -> dict[str, Any]:
        return self.op.params()

    def __repr__(self) -> str:
        return f"<OpNode {self.type} #{self.id}>"


# --------------------------------------------------------------------------- graph
class Graph:
    """A static graph: named inputs, constants and ops, defined by its ``outputs``."""

    def __init__(self) -> None:
        self._op_ids = itertools.count(1)
        self._var_ids = itertools.count(1)
        self.inputs: list[VarNode] = []
        self.outputs: list[VarNode] = []

    # ---------------------------------------------------------------- building
    def _make_op(self, op: OpDef, inputs: Sequence[VarNode], infos: Sequence[TensorInfo],
                 name: str | None) -> OpNode:
        node = OpNode(next(self._op_ids), op, inputs, name)
        for info in infos:
            var = VarNode(next(self._var_ids), info.shape, info.dtype)
            var.owner = node
            node.outputs.append(var)
        return node

    def add_input(self, name: str, shape: Sequence[int], dtype: Any) -> VarNode:
        """Add a graph input (``Host2DeviceCopy``) named ``name``."""
        if any(v.name == name for v in self.inputs):
            raise GraphError(f"duplicate graph input name {name!r}")
        op = Host2DeviceCopy(shape=tuple(int(d) for d in shape), dtype=dtype_spec(dtype))
        (var,) = self._make_op(op, [], op.infer([]), None).outputs
        var.name = name
        self.inputs.append(var)
        return var

    def add_const(self, value: Any, name: str | None = None,
                  kind: str = "ImmutableTensor") -> VarNode:
        """Add a constant (a read-only copy of ``value``); distinct calls give distinct vars."""
        op = value if isinstance(value, ConstOp) else make_const_op(value, kind)
        (var,) = self._make_op(op, [], op.infer([]), None).outputs
        var.name = name
        return var

    def add_op(self, op: OpDef, inputs: Sequence[VarNode], name: str | None = None,
               infos: Sequence[TensorInfo] | None = None) -> list[VarNode]:
        """Apply ``op`` to ``inputs`` (checked with ``infer``); returns the output vars.

        ``infos``: the output infos ``op.check_inputs`` already gave on these inputs'
        infos (``[v.info for v in inputs]``), so that a caller needing them checks once.
        """
        if isinstance(op, (Host2DeviceCopy, ConstOp)):
            raise GraphError("use add_input/add_const for source ops")
        if infos is None:
            infos = op.check_inputs([v.info for v in inputs])
        return list(self._make_op(op, inputs, infos, name).outputs)

    # ---------------------------------------------------------------- queries
    def ops(self, roots: Iterable[VarNode] | None = None) -> list[OpNode]:
        """Ops that ``roots`` (default: the outputs) depend on, inputs first (topological)."""
        order: list[OpNode] = []
        append = order.append
        state: dict[int, int] = {}  # op id -> 1 visiting, 2 done
        seen_state = state.get
        for root in roots if roots is not None else self.outputs:
            if root.owner.id in state:  # done: nothing is being visited between roots
                continue
            state[root.owner.id] = 1
            # depth first, each op after its inputs; an op's entry holds its unread inputs
            stack: list[tuple[OpNode, Iterator[VarNode]]] = [(root.owner,
                                                              iter(root.owner.inputs))]
            while stack:
                node, pending = stack[-1]
                for v in pending:
                    dep = v.owner
                    seen = seen_state(dep.id)
                    if seen is None:
                        if not dep.inputs:  # a source op: done at once
                            state[dep.id] = 2
                            append(dep)
                            continue
                        state[dep.id] = 1
                        stack.append((dep, iter(dep.inputs)))
                        break
                    if seen == 1:
                        raise GraphError(f"cycle through {dep.type} #{dep.id}")
                else:
                    stack.pop()
                    state[node.id] = 2
                    append(node)
        return order

    def vars(self) -> list[VarNode]:
        """Every var produced by ``ops()``, in topological order."""
        return [v for node in self.ops() for v in node.outputs]

    def users(self, order: Sequence[OpNode] | None = None) -> dict[VarNode, list[OpNode]]:
        """For each var, the ops that read it (in topological order, once per use);
        ``order``: ``ops()`` when the caller has it already."""
        result: dict[VarNode, list[OpNode]] = {}
        for node in self.ops() if order is None else order:
            for v in node.inputs:
                result.setdefault(v, []).append(node)
        return result

    def params(self) -> list[VarNode]:
        """The constants the outputs depend on."""
        return [node.outputs[0] for node in self.ops() if isinstance(node.op, ConstOp)]

    # ---------------------------------------------------------------- editing
    def replace_var(self, old: VarNode, new: VarNode) -> None:
        """Make every reader of ``old`` (ops and graph outputs) read ``new`` instead.

        Ops that ``new`` itself depends on keep reading ``old`` (so ``new = f(old)`` works).
        ``new`` must have the same shape and dtype; ``new``'s name becomes ``old``'s
        when ``old`` was a named graph output. This walks the whole graph: a pass making
        many replacements uses :class:`mge.graph.index.GraphIndex`, whose ``replace_var``
        costs what it touches.
        """
        if old is new:
            return
        if (old.shape, old.dtype) != (new.shape, new.dtype):
            raise GraphError(
                f"cannot replace {old!r} by {new!r}: shape or dtype differs")
        feeding_new = {node.id for node in self.ops([new])}
        for node in self.ops():
            if node.id not in feeding_new:
                node.inputs = [new if v is old else v for v in node.inputs]
        if old in self.outputs:
            self.outputs = [new if v is old else v for v in self.outputs]
            if old.name and not new.name:
                new.name = old.name

    def copy(self) -> Graph:
        """A structural copy (new nodes; constant arrays are shared, they are read-only)."""
        new = Graph()
        # both continue from the same next ids; copying leaves this graph's counters as
        # they were (so every copy, and what is dumped from it, comes out the same)
        op_id, var_id = next(self._op_ids), next(self._var_ids)
        self._op_ids, self._var_ids = itertools.count(op_id), itertools.count(var_id)
        new._op_ids, new._var_ids = itertools.count(op_id), itertools.count(var_id)
        vmap: dict[VarNode, VarNode] = {}
        for node in self.ops(list(self.inputs) + list(self.outputs)):
            clone = OpNode(node.id, node.op, [vmap[v] for v in node.inputs], node.name)
            clone.priority = node.priority
            for v in node.outputs:
                nv = VarNode(v.id, v.shape, v.dtype, v.name)
                nv.owner = clone
                clone.outputs.append(nv)
                vmap[v] = nv
        new.inputs = [vmap[v] for v in self.inputs]
        new.outputs = [vmap[v] for v in self.outputs]
        return new

    # ---------------------------------------------------------------- checking
    def lint(self) -> None:
        """Check the graph: topology, ownership, names and every op's ``infer`` rule.

        Raises:
            GraphError: naming the first problem found.
        """
        if not self.outputs:
            raise GraphError("graph has no outputs")
        names = [v.name for v in self.inputs]
        if len(set(names)) != len(names) or not all(names):
            raise GraphError(f"graph input names must be unique and non-empty: {names}")
        for v in self.inputs:
            if not v.is_input:
                raise GraphError(f"graph input {v!r} is not produced by Host2DeviceCopy")
        input_ids = {id(v) for v in self.inputs}
        for node in self.ops():
            self._lint_node(node, input_ids)

    def _lint_node(self, node: OpNode, input_ids: set[int]) -> None:
        where = f"{node.type} #{node.id}"
        for k, v in enumerate(node.outputs):
            if v.owner is not node:
                raise GraphError(f"{where}: output {k} {v!r} names another owner")
        if isinstance(node.op, Host2DeviceCopy) and id(node.outputs[0]) not in input_ids:
            raise GraphError(f"{where}: {node.outputs[0]!r} is not in graph.inputs")
        try:
            infos = node.op.check_inputs([v.info for v in node.inputs])
        except OpError as exc:
            raise GraphError(f"{where}: {exc}") from exc
        if len(infos) != len(node.outputs):
            raise GraphError(
                f"{where}: infer gives {len(infos)} outputs, node has {len(node.outputs)}")
        for v, info in zip(node.outputs, infos, strict=True):
            if v.shape != tuple(info.shape) or v.dtype != info.dtype:
                raise GraphError(
                    f"{where}: output {v!r} but infer says {format_type(info.shape, info.dtype)}")

    # ---------------------------------------------------------------- text form
    def format(self) -> str:
        """The readable text form: one line per op (source ops of constants inline)."""
        args = ", ".join(f"{v.ref}: {format_type(v.shape, v.dtype)}" for v in self.inputs)
        lines = [f"graph({args}) {{"]
        for node in self.ops():
            if isinstance(node.op, Host2DeviceCopy):
                continue
            outs = ", ".join(v.ref for v in node.outputs)
            types = ", ".join(format_type(v.shape, v.dtype) for v in node.outputs)
            if isinstance(node.op, ConstOp):
                lines.append(f"  {outs} = {node.type}() -> {types}")
                continue
            fields = [v.ref for v in node.inputs] + _param_strings(node.op)
            lines.append(f"  {outs} = {node.type}({', '.join(fields)}) -> {types}")
        lines.append(f"  return {', '.join(v.ref for v in self.outputs)}")
        lines.append("}")
        return "\n".join(lines)

    __str__ = format

    def __repr__(self) -> str:
        return f"<Graph: {len(self.inputs)} inputs, {len(self.ops())} ops, " \
               f"{len(self.outputs)} outputs>"


def _param_strings(op: OpDef) -> list[str]:
    """``key=value`` for the first param (the op's mode) and each one that is not default."""
    out = []
    for k, f in enumerate(dataclasses.fields(op)):
        value = getattr(op, f.name)
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        if k == 0 or isinstance(value, np.ndarray) or value != default:
            text = value if isinstance(value, str) else repr(value)
            out.append(f"{f.name}={text}")
    return out


__all__ = [
    "ConstOp",
    "Graph",
    "GraphError",
    "Host2DeviceCopy",
    "ImmutableTensor",
    "OpNode",
    "SharedDeviceTensor",
    "VarNode",
    "format_type",
    "make_const_op",
]
