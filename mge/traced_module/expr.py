"""Exprs of a TracedModule graph: one recorded call each.

``Input`` (a graph argument), ``GetAttr`` (``self.layer1.0``), ``CallMethod`` (a module
call or a Tensor method), ``CallFunction`` (an ``F.*`` call), ``Apply`` (a raw op) and
``Constant`` (a captured value). Arguments keep their Python structure: node leaves are
the expr's ``inputs``, everything else is stored as plain data.

Example:
    >>> print(graph)  # doctest: +SKIP
    %0: x = Input()
    %1: conv1 = getattr(self, "conv1") -> (Conv2d)
    %2: conv1_out = conv1(x)
    %3: relu_out = F.relu(conv1_out)
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from ..core.apply import apply
from ..core.tracing import active_call_tracer
from .node import ModuleNode, Node, Numbered, TensorNode
from .pytree import LEAF, TreeDef, tree_flatten

#: exprs made while a loader runs (``collect_exprs``), innermost collection last
_collecting: list[list[Expr]] = []


@contextlib.contextmanager
def collect_exprs() -> Iterator[list[Expr]]:
    """Collect the exprs constructed inside the block (loaders build new ones)."""
    made: list[Expr] = []
    _collecting.append(made)
    try:
        yield made
    finally:
        _collecting.pop()


class _NodeSlot:
    """Marks where a node goes among an expr's argument leaves (survives copy and pickle)."""

    def __repr__(self) -> str:
        return "<node>"

    def __reduce__(self) -> str:
        return "_NODE"

    def __copy__(self) -> _NodeSlot:
        return self

    def __deepcopy__(self, memo: dict) -> _NodeSlot:
        return self


_NODE = _NodeSlot()


def _format_value(v: Any) -> str:
    if isinstance(v, Node):
        return repr(v)
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_format_value(x) for x in v)
        return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_format_value(x)}" for k, x in v.items()) + "}"
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return f"Tensor{list(v.shape)}"
    return repr(v)


class Expr(Numbered):
    """Base expr: ``inputs`` (Nodes), ``outputs`` (Nodes) and the call's argument structure."""

    _ids: ClassVar[list[int]] = [0]

    def __init__(self) -> None:
        self._take_id()
        self.inputs: list[Node] = []
        self.outputs: list[Node] = []
        self._top_graph: Any = None  # the InternalGraph holding this expr
        self.arg_def: TreeDef | None = None
        self.const_val: list[Any] = []
        self.out_def: TreeDef = LEAF
        self.out_const: list[Any] = []
        if _collecting:
            _collecting[-1].append(self)

    # ------------------------------------------------------------ arguments
    def set_args(self, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        """Record the call's arguments; Node leaves become inputs (and this expr their user)."""
        leaves, self.arg_def = tree_flatten((tuple(args), dict(kwargs)))
        self.const_val = []
        for leaf in leaves:
            if isinstance(leaf, Node):
                self.add_input(leaf)
                self.const_val.append(_NODE)
            else:
                self.const_val.append(leaf)

    def set_args_kwargs(self, *args: Any, **kwargs: Any) -> None:
        """Replace the call's arguments (MegEngine's ``Expr.set_args_kwargs``)."""
        for node in self.inputs:
            node.users.remove(self)
        self.inputs = []
        self.set_args(args, kwargs)

    @property
    def return_val(self) -> Any:
        """The call's result with output nodes in place of tensors."""
        it = iter(self.outputs)
        return self.out_def.unflatten([next(it) if c is _NODE else c for c in self.out_const])

    @return_val.setter
    def return_val(self, value: Any) -> None:
        leaves, self.out_def = tree_flatten(value)
        self.outputs = [v for v in leaves if isinstance(v, Node)]
        self.out_const = [_NODE if isinstance(v, Node) else v for v in leaves]
        for node in self.outputs:
            node.expr = self

    def add_input(self, node: Node) -> None:
        """Read ``node`` (once more: ``node.users`` lists an expr once per use, as in
        MegEngine)."""
        self.inputs.append(node)
        node.users.append(self)

    def args_from(self, values: Sequence[Any]) -> tuple[tuple, dict]:
        """Rebuild ``(args, kwargs)`` with input values substituted for the node leaves."""
        it = iter(values)
        leaves = [next(it) if v is _NODE else v for v in self.const_val]
        args, kwargs = self.arg_def.unflatten(leaves)
        return args, kwargs

    @property
    def args(self) -> tuple:
        return self.args_from(self._arg_nodes())[0]

    @property
    def kwargs(self) -> dict:
        return self.args_from(self._arg_nodes())[1]

    def _arg_nodes(self) -> list[Node]:
        return list(self.inputs)

    def replace_input(self, old: Node, new: Node) -> None:
        """Use ``new`` wherever this expr used ``old``."""
        uses = sum(n is old for n in self.inputs)
        self.inputs = [new if n is old else n for n in self.inputs]
        old.users[:] = [u for u in old.users if u is not self]
        new.users += [self] * uses

    # ------------------------------------------------------------ outputs
    def set_outputs(self, value: Any, make_node: Callable[[Any], Node | None]) -> Any:
        """Create output nodes for the tensors in ``value`` (others kept as data); returns
        ``value`` with nodes in place of tensors."""
        leaves, self.out_def = tree_flatten(value)
        self.out_const = []
        node_leaves = []
        for leaf in leaves:
            node = make_node(leaf)
            if node is None:
                self.out_const.append(leaf)
                node_leaves.append(leaf)
            else:
                node.expr = self
                self.outputs.append(node)
                self.out_const.append(_NODE)
                node_leaves.append(node)
        return self.out_def.unflatten(node_leaves)

    def split_outputs(self, value: Any) -> list[Any]:
        """The output-node values from a call's return value."""
        leaves, _ = tree_flatten(value)
        return [v for v, c in zip(leaves, self.out_const) if c is _NODE]

    # ------------------------------------------------------------ execution / printing
    def interpret(self, *values: Any) -> list[Any]:
        """Run this expr on input values; returns one value per output node."""
        raise NotImplementedError

    def _outs_str(self) -> str:
        return ", ".join(repr(o) for o in self.outputs) or "None"

    def _call_str(self, callee: str, skip_first: bool = False) -> str:
        args, kwargs = self.args_from(self.inputs)
        if skip_first:
            args = args[1:]
        parts = [_format_value(a) for a in args] + [f"{k}={_format_value(v)}"
                                                   for k, v in kwargs.items()]
        return f"{callee}({', '.join(parts)})"

    def __repr__(self) -> str:
        return f"%{self._id}:\t{self._outs_str()} = {self._body()}"

    def _body(self) -> str:
        raise NotImplementedError

    @property
    def top_graph(self) -> Any:
        """The InternalGraph holding this expr."""
        return self._top_graph

    def __setstate__(self, state: dict) -> None:
        if "graph" in state:  # pickled before ``graph`` meant a called module's graph
            state["_top_graph"] = state.pop("graph")
        self.__dict__.update(state)


class Input(Expr):
    """A graph argument."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.outputs = [node]
        node.expr = self

    def _body(self) -> str:
        return "Input()"


class GetAttr(Expr):
    """``module.name`` (``name`` may be a dotted path such as ``layer1.0.conv1``)."""

    def __init__(self, module: ModuleNode, name: str) -> None:
        super().__init__()
        self.name = name
        self.set_args((module,), {})

    def interpret(self, *values: Any) -> list[Any]:
        return [get_attr_path(values[0], self.name)]

    def _body(self) -> str:
        kind = getattr(self.outputs[0], "module_type", None) if self.outputs else None
        kind = getattr(kind, "__name__", kind) or "Tensor"
        return f'getattr({self.inputs[0]}, "{self.name}") -> ({kind})'


class CallMethod(Expr):
    """``obj.method(*args, **kwargs)``: a module's ``__call__`` or a Tensor method.

    Made as MegEngine's: ``CallMethod(node, method)`` then ``set_args_kwargs(node, ...)``.

    Example:
        >>> expr = CallMethod(node, "astype")  # doctest: +SKIP
        >>> expr.set_args_kwargs(node, "float16")  # doctest: +SKIP
    """

    def __init__(self, node: Any, method: str = "__call__") -> None:
        super().__init__()
        self.method = method
        self.set_args((node,), {})

    @property
    def graph(self) -> Any:
        """The graph a call of a traced module runs (MegEngine's ``CallMethod.graph``);
        None for a builtin module or a Tensor method."""
        target = self.inputs[0] if self.inputs else None
        if self.method != "__call__" or not isinstance(target, ModuleNode) or \
                target.graph is None:
            return None
        graphs = getattr(target.owner, "argdef_graph_map", None) or {}
        if len(graphs) <= 1:
            return next(iter(graphs.values()), None)
        args, kwargs = self.args_from(self.inputs)
        tree = tree_flatten((tuple(args[1:]), dict(kwargs)))[1]
        return next((g for g in graphs.values() if g._arg_def == tree), None)

    def interpret(self, *values: Any) -> list[Any]:
        args, kwargs = self.args_from(values)
        obj = args[0]
        return self.split_outputs(getattr(obj, self.method)(*args[1:], **kwargs))

    def _body(self) -> str:
        target = self.args[0]
        if self.method == "__call__":
            return self._call_str(repr(target), skip_first=True)
        return self._call_str(f"{target}.{self.method}", skip_first=True)


class CallFunction(Expr):
    """``func(*args, **kwargs)`` for a public function such as ``F.relu``."""

    def __init__(self, func: Callable, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.func = func
        self.set_args(args, kwargs)

    def interpret(self, *values: Any) -> list[Any]:
        args, kwargs = self.args_from(values)
        return self.split_outputs(self.func(*args, **kwargs))

    def _bound(self) -> inspect.BoundArguments:
        bound = inspect.signature(self.func).bind(*self.args, **self.kwargs)
        bound.apply_defaults()
        return bound

    @property
    def named_args(self) -> dict[str, Any]:
        """Every parameter of ``func`` by name (defaults filled in), nodes for tensors."""
        return dict(self._bound().arguments)

    def set_arg(self, name: str, value: Any) -> None:
        """Pass ``value`` as the parameter ``name`` (e.g. a node made by a loader)."""
        bound = self._bound()
        if name not in bound.arguments:
            raise KeyError(f"{self.func.__name__}() has no parameter {name!r}")
        bound.arguments[name] = value
        self.set_args_kwargs(*bound.args, **bound.kwargs)

    def _body(self) -> str:
        module = getattr(self.func, "__module__", "") or ""
        short = module.replace("mge.functional.", "F.") if module.startswith("mge.functional") \
            else module
        short = "F" if short.startswith("F.") else short
        return self._call_str(f"{short}.{self.func.__name__}")


class Apply(Expr):
    """A raw ``apply(opdef, *inputs)`` made directly by user code."""

    def __init__(self, opdef: Any, inputs: Sequence[Node]) -> None:
        super().__init__()
        self.opdef = opdef
        self.set_args(tuple(inputs), {})

    def interpret(self, *values: Any) -> list[Any]:
        return list(apply(self.opdef, *values))

    def _body(self) -> str:
        return self._call_str(str(self.opdef))


class Constant(Expr):
    """A value captured while tracing (a Tensor or Python data)."""

    def __init__(self, value: Any, node: TensorNode | str = "const_tensor") -> None:
        """``node``: the output node, or (MegEngine's form) the name for a new one."""
        super().__init__()
        self.value = value
        if isinstance(node, str):
            node = TensorNode(None, node, getattr(value, "shape", None),
                              getattr(value, "dtype", None), getattr(value, "device", None))
        self.outputs = [node]
        node.expr = self

    @classmethod
    def make(cls, value: Any, name: str = "const_tensor") -> TensorNode:
        """Inside ``graph.insert_exprs()``: record a Constant expr for the Tensor ``value``;
        returns its node (MegEngine's ``Constant.make``).

        Raises:
            RuntimeError: outside ``insert_exprs``.
        """
        make = getattr(active_call_tracer(), "constant", None)
        if make is None:
            raise RuntimeError("Constant.make(...) records into a graph only inside "
                               "`with graph.insert_exprs():`")
        return make(value, name)

    def interpret(self, *values: Any) -> list[Any]:
        return [self.value]

    def _body(self) -> str:
        return f"Constant({_format_value(self.value)})"


def get_attr_path(obj: Any, path: str) -> Any:
    """Follow a dotted attribute path; numeric parts index into lists and containers, and
    parts of a dict attribute are its keys."""
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj[part] if part in obj else obj[int(part)]
        elif part.isdigit() and not hasattr(obj, part):
            obj = obj[int(part)]
        else:
            obj = getattr(obj, part)
    return obj
