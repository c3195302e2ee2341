"""MegEngine's ``megengine.utils.network_node``: the editable nodes of a ``Network``.

A :class:`VarNode` is a Tensor that stands for a var of a graph being edited: ``F.*``
functions and Tensor operators applied to it build new operators into the graph (through
``apply``'s symbolic path) instead of computing, as with MegEngine's VarNodes. An
:class:`OpNode` holds an mge ``OpDef`` (``op``), its ``inputs`` and ``outputs`` (VarNodes)
and a ``name``. Each registered operator type has a class of its own here
(``ConvolutionForward``, ``Elemwise``, ...) for ``NodeFilter.type``; ``Host2DeviceCopy``
(graph inputs), ``ImmutableTensor`` and ``SharedDeviceTensor`` (constants) are the data
and param providers. ``Graph``, ``InputNode``, ``input_callback``,
``apply_normal_varnode``, ``OutputNode``, ``AttrOutputNode`` and ``output_callback`` are
MegEngine's small graph API (``megengine.core.tensor.megbrain_graph``): vars built on
inputs are computed when an output is read, from the values the inputs have by then
(:func:`evaluate`).

Example:
    >>> import mge.functional as F
    >>> from mge.utils.network_node import Host2DeviceCopy
    >>> x = Host2DeviceCopy((2,), "float32", name="x").outputs[0]
    >>> y = F.relu(x) * 2
    >>> y.owner.type, y.owner.inputs[0].owner.type, y.shape
    ('Elemwise', 'Elemwise', (2,))
"""

from __future__ import annotations

import collections
import itertools
import sys
import types
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core._trace_option import set_symbolic_shape, use_symbolic_shape
from ..core.apply import SymbolicValue, apply
from ..core.opdef import REGISTRY, OpDef, TensorInfo
from ..core.tensor.base import DeviceTensorND, Tensor
from ..device import get_default_device
from ..dtype import canonical_dtype
from ..functional.indexing import setitem
from ..graph import ir
from ..ops import Elemwise as _ElemwiseOp
from ..ops import TypeCvt as _TypeCvtOp
from ..ops import shape as shape_ops

#: order of nodes made after loading (loaded nodes keep their file's operator ids)
_new_order = itertools.count(1 << 40)


class NetworkNode:
    """Base of the nodes of a ``Network``."""


class VarNode(NetworkNode, Tensor):
    """A var of a graph being edited: a Tensor without a value whose ops build graph nodes.

    ``owner`` is the :class:`OpNode` producing it, ``users`` the ones reading it.
    """

    def __init__(self, shape: Sequence[int] | VarNode, dtype: Any = None, *,
                 owner_opr: OpNode | None = None, name: str | None = None,
                 device: str | None = None) -> None:
        if isinstance(shape, VarNode):  # MegEngine's ``VarNode(x.var)``: x's var again
            var = shape.var
            shape, dtype, owner_opr = var._shape, var._dtype, var.owner
            name, device = name or var._name, device or var._device
            self._alias_of: VarNode | None = var
            var._aliases.add(self)
        else:
            self._alias_of = None
        #: its shape depends on input values (a CondTake's outputs): ``_shape`` is only a
        #: bound, and ``shape`` is None as for MegEngine's dynamic shape vars
        self._dynamic = self._alias_of is not None and self._alias_of._dynamic
        #: the ``VarNode(self.var)`` objects standing for this var
        self._aliases: weakref.WeakSet[VarNode] = weakref.WeakSet()
        self._data = None
        self._backend = None
        self._format = "default"
        self._qparams = None
        self._grad = self._tape = None
        self._shape = tuple(int(d) for d in shape)
        self._dtype = np.dtype(dtype)
        self._device = device or get_default_device()
        self._name = name
        self.owner = owner_opr
        self.users: list[OpNode] = []

    @classmethod
    def apply_symbolic(cls, op: OpDef, inputs: Sequence[Tensor],
                       out_infos: Sequence[TensorInfo]) -> tuple[VarNode, ...]:
        """Build ``op`` on ``inputs`` into the graph (``apply``'s path for VarNodes); plain
        Tensors among the inputs become ``ImmutableTensor`` constants.

        A ``CondTake`` whose mask has no value (it depends on a graph input) gives dynamic
        vars (see ``_dynamic``), which only elementwise ops with single-value operands may
        read: no number may come from their bound."""
        in_vars = [t if isinstance(t, VarNode) else ImmutableTensor(t.numpy()).outputs[0]
                   for t in inputs]
        dynamic = _dynamic_outputs(op, in_vars)
        node = str_to_mge_class(op.type_name)(op)
        for v in in_vars:
            node.add_inp_var(v)
            v.users.append(node)
        device = in_vars[0]._device if in_vars else None  # outputs where the inputs are
        for info in out_infos:
            node.add_out_var(cls(info.shape, info.dtype, owner_opr=node, device=device))
            node.outputs[-1]._dynamic = dynamic
        return tuple(node.outputs)

    @classmethod
    def graph_const(cls, value: Any, device: str | None = None) -> VarNode:
        """A new ``ImmutableTensor`` var holding ``value`` (how ``astensor1d`` makes
        constants next to a VarNode reference)."""
        return ImmutableTensor(value, None, device).outputs[0]

    def _array_on(self, backend: Any) -> Any:
        raise SymbolicValue(self)

    @property
    def id(self) -> int:
        return id(self)

    @property
    def partial_shape(self) -> tuple[int, ...] | None:
        """The inferred shape as a tuple (None: it depends on input values)."""
        return None if self._dynamic else self._shape

    @property
    def shape(self) -> Any:  # a tuple, or a VarNode while symbolic shapes are on
        """The inferred shape (None: it depends on input values), or a ``GetVarShape``
        VarNode after ``set_symbolic_shape(True)``."""
        return self.shapeof() if use_symbolic_shape() else self.partial_shape

    def shapeof(self, axis: int | None = None) -> VarNode:
        """A VarNode holding this var's shape (or the size of ``axis``)."""
        op = shape_ops.GetVarShape() if axis is None else shape_ops.GetVarShape(axis=axis)
        return apply(op, self)[0]

    def __setitem__(self, index: Any, value: Any) -> None:
        # ``v[...] = array`` on a graph var (no value to replace): an assignment through
        # the indexing op, as for any other index; ``v[...] = var`` re-points ``v``
        if index is Ellipsis and not isinstance(value, VarNode):
            value = setitem(self, index, value)
        super().__setitem__(index, value)

    def set_value(self, value: Any) -> None:
        """Make this object stand for the var ``value`` (what ``v += 1`` does to a VarNode);
        the var it stood for stays in the graph as a new object."""
        if not isinstance(value, VarNode):
            raise TypeError(f"{self!r}: a graph var can only be set to another VarNode, "
                            f"got {type(value).__name__}")
        if self._alias_of is not None:  # ``VarNode(x.var)``: x's var stays x's
            twin = VarNode(self._alias_of, name=self.name)
            _swap(self, twin)
            self._alias_of = None
        elif self.owner is not None:
            twin = VarNode(self._shape, self._dtype, owner_opr=self.owner, name=self.name)
            twin._dynamic = self._dynamic
            _swap(self, twin)
            for alias in list(self._aliases):  # they keep standing for the old var
                alias._alias_of = twin
                twin._aliases.add(alias)
            self._aliases = weakref.WeakSet()
        _swap(value, self)
        self._shape, self._dtype, self._dynamic = value._shape, value._dtype, value._dynamic
        self.name = value.name if value.name is not None else self.name

    @property
    def graph(self) -> Graph:
        """A graph handle to ``compile`` :class:`OutputNode` s of vars with (MegEngine's)."""
        return Graph()

    @property
    def var(self) -> VarNode:
        """The graph var itself (MegEngine's ``VarNode.var``, its ``SymbolVar``)."""
        return self if self._alias_of is None else self._alias_of

    def numpy(self) -> np.ndarray:
        """The value of a var computed from constants only (MegEngine runs the subgraph);
        a var that depends on a graph input has none (``ValueError``)."""
        return _evaluate(self, {})

    def set_owner_opr(self, owner_opr: OpNode) -> None:
        self.owner = owner_opr

    def __bool__(self) -> bool:
        return False

    __index__ = None  # type: ignore[assignment]
    __int__ = None  # type: ignore[assignment]
    __float__ = None  # type: ignore[assignment]

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"VarNode:{self.name}"


def _dynamic_outputs(op: OpDef, inputs: Sequence[VarNode]) -> bool:
    """Whether ``op`` on ``inputs`` gives dynamic vars (refused where a bound could leak)."""
    if any(v._dynamic for v in inputs):
        if not isinstance(op, (_ElemwiseOp, _TypeCvtOp)) or any(
                not v._dynamic and int(np.prod(v._shape)) != 1 for v in inputs):
            raise ValueError(f"{op.type_name}: one input's shape depends on input values "
                             "(a cond_take output); only elementwise ops with single-value "
                             "operands can read it in a Network")
        return True
    if op.value_params:  # CondTake: dynamic unless its mask has a value
        try:
            _evaluate(inputs[-1], {})
        except ValueError:
            return True
    return False


def evaluate(var: VarNode, feeds: dict[int, Tensor]) -> np.ndarray:
    """``var``'s value from the constants and the fed graph inputs it is computed from
    (``feeds``: input values by ``id`` of their var)."""
    return _evaluate(var, dict(feeds))


def _evaluate(var: VarNode, memo: dict[int, Tensor]) -> np.ndarray:
    """``var``'s value from the constants it is computed from (``memo``: values by var id,
    fed inputs included)."""
    var = var.var
    if id(var) in memo:
        return memo[id(var)].numpy()
    owner = var.owner
    if isinstance(owner, ConstOpBase):
        return owner.numpy()
    if owner is None or owner.op is None:
        raise ValueError(f"{var!r} has no value: it depends on the graph input "
                         f"{getattr(owner, 'name', None)!r} (only vars computed from "
                         "constants have one)")
    if id(var) not in memo:
        args = [Tensor(_evaluate(v, memo), dtype=v.dtype) for v in owner.inputs]
        for out, value in zip(owner.outputs, apply(owner.op, *args), strict=True):
            memo[id(out)] = value
    return memo[id(var)].numpy()


def _swap(old: VarNode, new: VarNode) -> None:
    """Put ``new`` where ``old`` is: its owner's output and its users' input."""
    new.owner, new.users = old.owner, old.users
    if old.owner is not None:
        old.owner.outputs = [new if v is old else v for v in old.owner.outputs]
    for user in old.users:
        user.inputs = [new if v is old else v for v in user.inputs]
    old.owner, old.users = None, []


class OpNode(NetworkNode):
    """An operator of a graph being edited: ``op`` (an mge ``OpDef``) on ``inputs``."""

    type: str | None = None

    def __init__(self, op: OpDef | None = None, name: str | None = None) -> None:
        self.op = op
        self.inputs: list[VarNode] = []
        self.outputs: list[VarNode] = []
        self.name = name
        self._priority = 0
        self._order = next(_new_order)

    @classmethod
    def load(cls, opr: ir.OpNode) -> OpNode:
        """The node for a loaded graph's operator (outputs and inputs are added by Network)."""
        node = cls(opr.op, opr.name)
        node._priority, node._order = opr.priority, opr.id
        return node

    @property
    def id(self) -> int:
        return id(self)

    @property
    def priority(self) -> tuple[int, int]:
        """``(priority, operator id)``: what orders free operators in ``get_oprs_seq``."""
        return (self._priority, self._order)

    @property
    def params(self) -> dict[str, Any]:
        return self.op.params() if self.op is not None else {}

    def add_inp_var(self, x: VarNode) -> None:
        self.inputs.append(x)

    def add_out_var(self, x: VarNode) -> None:
        self.outputs.append(x)

    def __repr__(self) -> str:
        return f"{self.name}{{{self.type}}}"


class Host2DeviceCopy(OpNode):
    """A graph input of ``shape`` and ``dtype``; its var is named ``name``."""

    type = "Host2DeviceCopy"

    def __init__(self, shape: Sequence[int] | None = None, dtype: Any = None,
                 name: str | None = None, device: str | None = None) -> None:
        super().__init__(None, name)
        self.shape = tuple(shape) if shape is not None else ()
        self.dtype = canonical_dtype(dtype if dtype is not None else np.float32)
        self.device = device or "xpux"
        self.add_out_var(VarNode(self.shape, self.dtype, owner_opr=self, name=name))

    @classmethod
    def load(cls, opr: ir.OpNode) -> Host2DeviceCopy:
        (var,) = opr.outputs
        node = cls(var.shape, var.dtype, var.name)
        node._priority, node._order = opr.priority, opr.id
        node.outputs = []  # Network adds the loaded var
        return node


class ConstOpBase(OpNode):
    """A constant provider; ``set_value`` replaces its value."""

    type = "ConstOpBase"
    kind = "ImmutableTensor"

    def __init__(self, data: Any = None, name: str | None = None, device: str | None = None,
                 graph: Any = None) -> None:
        if type(self) is ConstOpBase:
            raise TypeError("ConstOpBase cannot be instantiated")
        super().__init__(None, name)
        self.device = device
        if data is not None:
            self.set_value(data, device)

    @classmethod
    def load(cls, opr: ir.OpNode) -> ConstOpBase:
        node = cls(None, opr.outputs[0].name)
        node.op = opr.op
        node._priority, node._order = opr.priority, opr.id
        return node

    @property
    def shape(self) -> tuple[int, ...]:
        return self.outputs[0].partial_shape

    @property
    def dtype(self) -> np.dtype:
        return self.op.value.dtype

    def numpy(self) -> np.ndarray:
        return np.array(self.op.value)

    def set_value(self, data: Any, device: str | None = None) -> None:
        """Replace the value (64-bit data narrows to 32 bits, as in MegEngine)."""
        if not isinstance(data, (int, float, Sequence, np.ndarray)):
            raise TypeError(f"set_value: expected a number, sequence or ndarray, "
                            f"got {type(data).__name__}")
        self.op = ir.make_const_op(np.asarray(data), self.kind)
        value = self.op.value
        self.device = device or self.device
        if self.outputs:
            self.outputs[0]._shape, self.outputs[0]._dtype = value.shape, value.dtype
        else:
            self.add_out_var(VarNode(value.shape, value.dtype, owner_opr=self, name=self.name,
                                     device=self.device))
        if self.device is not None:
            self.outputs[0]._device = self.device


class ImmutableTensor(ConstOpBase):
    """A constant baked into the graph."""

    type = "ImmutableTensor"
    kind = "ImmutableTensor"


class SharedDeviceTensor(ConstOpBase):
    """A parameter tensor (constant at inference)."""

    type = "SharedDeviceTensor"
    kind = "SharedDeviceTensor"


class ReadOnlyOpNode(OpNode):
    """An operator without a class of its own here."""


def _make_op_class(type_name: str) -> type[OpNode]:
    return type(type_name, (OpNode,), {
        "type": type_name, "__module__": __name__,
        "__doc__": f"A ``{type_name}`` operator of a graph being edited."})


_OP_CLASSES: dict[str, type[OpNode]] = {
    cls.type: cls for cls in (Host2DeviceCopy, ImmutableTensor, SharedDeviceTensor)}
for _name in REGISTRY:
    _OP_CLASSES[_name] = _make_op_class(_name)
    setattr(sys.modules[__name__], _name, _OP_CLASSES[_name])


def str_to_mge_class(classname: str) -> type[OpNode]:
    """The node class of operator type ``classname`` (``ReadOnlyOpNode`` if it has none)."""
    return _OP_CLASSES.get(classname, ReadOnlyOpNode)


class _Function:
    """A compiled set of outputs (``Graph.compile``): ``execute()`` (or a call) runs the
    output callbacks and makes the ``OutputNode`` values readable; those are computed on
    ``get_value()`` from the inputs set by then (MegEngine's asynchronous execution lets
    a value be set after ``execute``)."""

    def __init__(self, graph: Graph, outputs: Sequence[OutputNode]) -> None:
        self.graph = graph
        self.outputs = list(outputs)

    def execute(self) -> _Function:
        for out in self.outputs:
            out._source = self.graph
            if isinstance(out, _CallbackOutput):
                out.callback(out.get_value())
        return self

    __call__ = execute

    def wait(self) -> _Function:
        """Values are computed when read: nothing to wait for."""
        return self


class Graph:
    """MegEngine's computing graph handle, as far as feeding and reading values goes:
    :class:`InputNode` s made with ``graph=`` this graph feed it; ``compile`` the
    :class:`OutputNode` s of vars and ``execute`` to read them. ``options`` takes
    MegEngine's settings (``async_exec_level``...), which change nothing here."""

    def __init__(self) -> None:
        self.inputs: list[InputNode] = []
        self.options = types.SimpleNamespace(async_exec_level=0)

    def compile(self, outputs: OutputNode | Sequence[OutputNode]) -> _Function:
        outs = [outputs] if isinstance(outputs, OutputNode) else list(outputs)
        return _Function(self, [o for o in outs if isinstance(o, OutputNode)])

    def feeds(self) -> dict[int, Tensor]:
        """The values of this graph's inputs, by ``id`` of their var (every input needs
        one, as for MegEngine's execution)."""
        return {id(i.outputs[0].var): i.get_value() for i in self.inputs}


class InputNode:
    """A graph input (MegEngine's): ``outputs[0]`` is its var, ``set_value`` gives the
    value that executions of ``graph`` read.

    Example:
        >>> import mge
        >>> from mge.ops.elemwise import Elemwise
        >>> g = Graph()
        >>> x = InputNode(shape=(2,), dtype="float32", graph=g)
        >>> y = OutputNode(apply_normal_varnode(Elemwise(mode="NEGATE"), x.outputs[0])[0])
        >>> x.set_value(mge.tensor([1.0, 2.0])._dev_tensor())
        >>> _ = g.compile(y.outputs[0]).execute()
        >>> y.get_value().numpy()
        array([-1., -2.], dtype=float32)
    """

    def __init__(self, *args: Any, device: str | None = None, dtype: Any = None,
                 shape: Sequence[int] | None = None, graph: Graph | None = None,
                 use_static_shape: bool = False) -> None:
        self.graph = graph if graph is not None else Graph()
        self.graph.inputs.append(self)
        node = Host2DeviceCopy(shape, "float32" if dtype is None else dtype,
                               device=None if device is None else str(device))
        self.outputs = node.outputs
        self._value: Tensor | None = None
        self._callback: Callable[[], Any] | None = None

    def set_value(self, value: Any) -> None:
        """The input's value (a ``Tensor._dev_tensor()``, a Tensor or an array)."""
        if isinstance(value, DeviceTensorND):
            value = value.tensor
        self._value = value if isinstance(value, Tensor) else Tensor(value)

    def get_value(self) -> Tensor:
        if self._callback is not None:
            self.set_value(self._callback())
        if self._value is None:
            raise RuntimeError(f"InputNode({self.outputs[0]!r}): no value was set")
        return self._value


def input_callback(callback: Callable[[], Any], *args: Any, device: str | None = None,
                   dtype: Any = None, shape: Sequence[int] | None = None,
                   graph: Graph | None = None) -> tuple[VarNode, None]:
    """A graph input whose value ``callback()`` gives at each execution: ``(its var,
    None)`` (MegEngine's second item, a dependency var, has no use here)."""
    node = InputNode(device=device, dtype=dtype, shape=shape, graph=graph)
    node._callback = callback
    return node.outputs[0], None


def apply_normal_varnode(op: OpDef, *args: Any) -> list[Any]:
    """The output vars of ``op`` applied to graph vars (MegEngine's)."""
    return list(apply(op, *args))


class OutputNode:
    """A var's value reader (MegEngine's): ``get_value()`` once its graph executed.

    Example:
        >>> from mge.utils.network import Network
        >>> x = Network().make_const([1.0, 2.0]) * 2
        >>> o = OutputNode(x.var)
        >>> o.graph.compile(o.outputs).execute()  # doctest: +ELLIPSIS
        <...>
        >>> o.get_value().numpy()
        array([2., 4.], dtype=float32)
    """

    def __init__(self, var: Any) -> None:
        self.var = var
        self.graph = Graph()
        self.outputs = [self]
        self._source: Graph | None = None

    def _tensor(self) -> Tensor:
        if self._source is None:
            raise RuntimeError(f"OutputNode({self.var!r}): the graph has not been executed")
        value = evaluate(self.var, self._source.feeds())
        return Tensor(value, dtype=value.dtype)

    def get_value(self) -> Any:
        """The var's value (a ``DeviceTensorND``)."""
        return DeviceTensorND(self._tensor())


#: what an ``AttrOutputNode`` gives: the var's shape, dtype and device
TensorAttr = collections.namedtuple("TensorAttr", ["shape", "dtype", "device"])


class AttrOutputNode(OutputNode):
    """A var's shape, dtype and device (MegEngine's), read like an :class:`OutputNode`."""

    def get_value(self) -> TensorAttr:
        t = self._tensor()
        return TensorAttr(t.shape, t.dtype, t.device)


class _CallbackOutput(OutputNode):
    """``output_callback``'s node: each execution passes the var's value to ``callback``."""

    def __init__(self, var: Any, callback: Callable[[DeviceTensorND], Any]) -> None:
        super().__init__(var)
        self.callback = callback


def output_callback(callback: Callable[[DeviceTensorND], Any], var: Any, *args: Any
                    ) -> OutputNode:
    """What to compile so that each execution calls ``callback`` with ``var``'s value
    (a ``DeviceTensorND``)."""
    return _CallbackOutput(var, callback)


__all__ = [  # noqa: PLE0604 - the per-type classes are listed from the registry
    "AttrOutputNode", "ConstOpBase", "Graph", "Host2DeviceCopy", "ImmutableTensor",
    "InputNode", "NetworkNode", "OpNode", "OutputNode", "ReadOnlyOpNode", "SharedDeviceTensor",
    "TensorAttr", "VarNode", "apply_normal_varnode", "evaluate", "input_callback",
    "output_callback", "set_symbolic_shape", "str_to_mge_class", "use_symbolic_shape",
    *sorted(REGISTRY),
]
