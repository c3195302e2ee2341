"""Nodes of a TracedModule graph: values flowing between exprs.

A ``ModuleNode`` stands for a module (``self`` or a submodule reached by ``getattr``);
a ``TensorNode`` stands for a tensor and carries its traced shape and dtype. Inside
``graph.insert_exprs()`` TensorNodes accept the same operators and methods as Tensors,
which record new exprs.

Example:
    >>> node = TensorNode(None, "x", shape=(1, 3), dtype=np.dtype("float32"))
    >>> str(node), f"{node}", node.shape
    ('x', '%x', (1, 3))
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..core.tracing import active_call_tracer
from ..tensor import Tensor


class Numbered:
    """Objects numbered in creation order (``_id``) by one counter per family: ``_ids``,
    set on the family's base class (:class:`Node`, :class:`~.expr.Expr`), whose first
    item is the id the next one gets (MegEngine's ``_get_next_id``/``_set_next_id``)."""

    _ids: ClassVar[list[int]]

    @classmethod
    def _get_next_id(cls) -> int:
        """The id the next one made gets."""
        return cls._ids[0]

    @classmethod
    def _set_next_id(cls, value: int) -> None:
        """Make the next one made get id ``value``."""
        cls._ids[0] = value

    def _take_id(self) -> None:
        self._id = self._ids[0]
        self._ids[0] += 1


class Node(Numbered):
    """A value in an InternalGraph: produced by one expr (``expr``), used by ``users``.

    Nodes sit below exprs and graphs (which import them): ``expr`` is an
    :class:`~.expr.Expr` or None, ``users`` a list of them, ``graph`` the owning
    :class:`~.graph.InternalGraph` or None.
    """

    _ids: ClassVar[list[int]] = [0]

    def __init__(self, expr: Any, name: str) -> None:
        self._take_id()
        self._name = name
        self.expr = expr
        self.users: list[Any] = []
        self.graph: Any = None

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, new_name: str) -> None:
        """Rename; the name must be unique in the node's graph."""
        if self.graph is not None:
            self.graph._namespace.rename(self, new_name)
        else:
            self._name = new_name

    @property
    def qualname(self) -> str:
        """MegEngine's qualified name: ``Net.block0`` for a module, ``Net.block0.conv0`` for
        an attribute, ``Net.block0.conv0.[out]`` for a module call's result, ``Net.[x]``,
        ``Net.[func_relu]``, ``Net.[method_add]``, ``Net.[def_<opdef>]`` otherwise."""
        prefix = self.graph.qualname if self.graph is not None else ""
        expr = self.expr
        kind = type(expr).__name__
        if kind == "Input" and self.graph is not None and self is self.graph._inputs[0]:
            return prefix
        if kind == "GetAttr":
            return f"{expr.inputs[0].qualname}.{expr.name}"
        if kind == "CallMethod" and expr.method == "__call__" and \
                isinstance(expr.inputs[0], ModuleNode):
            return f"{expr.inputs[0].qualname}.[out]"
        tag = {"CallMethod": lambda: f"method_{getattr(expr, 'method', '').strip('_')}",
               "CallFunction": lambda: f"func_{getattr(expr.func, '__name__', 'f')}",
               "Apply": lambda: f"def_{str(expr.opdef).lower()}"}.get(kind)
        inner = tag() if tag is not None else self._name
        return f"{prefix}.[{inner}]" if prefix else inner

    @property
    def _qualname(self) -> str:
        """MegEngine's attribute name of ``qualname``."""
        return self.qualname

    @property
    def top_graph(self) -> Any:
        return self.graph

    def __repr__(self) -> str:
        return f"%{self._name}"

    def __str__(self) -> str:
        """The bare name (MegEngine's ``str(node)``); ``repr`` and f-strings give ``%name``."""
        return self._name

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __getstate__(self) -> dict:
        # Producer and users are rebuilt from the graph's exprs (InternalGraph._relink),
        # which keeps pickling and deepcopy from recursing along the whole graph.
        state = dict(self.__dict__)
        state["expr"], state["users"] = None, []
        return state


class ModuleNode(Node):
    """A module value; ``module_type`` is the module's class (or class name for traced ones)."""

    def __init__(self, expr: Any, name: str, module_type: Any = None) -> None:
        super().__init__(expr, name)
        self.module_type = module_type

    @property
    def owner(self) -> Any:
        """The module object this node stands for (resolved through the owning graph)."""
        if self.graph is None:
            raise AttributeError(f"{self} is not attached to a graph")
        return self.graph._resolve_module(self)

    def __getattr__(self, name: str) -> Any:
        """Inside ``graph.insert_exprs()``: ``self.sub`` records ``getattr`` of a submodule
        or tensor attribute of this module and returns its node.

        Example:
            >>> with graph.insert_exprs():  # doctest: +SKIP
            ...     y = graph.inputs[0].neg(x)
        """
        getattr_node = getattr(active_call_tracer(), "getattr_node", None)
        if name.startswith("_") or getattr_node is None:
            raise AttributeError(f"{type(self).__name__} object has no attribute {name!r}")
        return getattr_node(self, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside ``graph.insert_exprs()``: record a call of this module."""
        if active_call_tracer() is None:
            raise RuntimeError(f"{self}(...): module calls on nodes are only recorded inside "
                               "`with graph.insert_exprs():`")
        return self.owner(*args, **kwargs)


class TensorNode(Node):
    """A tensor value with the shape, dtype and device seen while tracing."""

    #: MegEngine's concrete tensor of the node; None once tracing is over (always, here).
    value: Tensor | None = None

    def __init__(
        self,
        expr: Any,
        name: str = "",
        shape: tuple[int, ...] | None = None,
        dtype: np.dtype | None = None,
        device: str | None = None,
        qparams: Any = None,
    ) -> None:
        super().__init__(expr, name)
        self.shape = tuple(shape) if shape is not None else None
        self.dtype = np.dtype(dtype) if dtype is not None else None
        self.device = device
        self.qparams = qparams

    @property
    def ndim(self) -> int:
        return len(self.shape) if self.shape is not None else 0

    __hash__ = Node.__hash__


def _node_method(name: str):  # noqa: ANN202
    def method(self: TensorNode, *args: Any, **kwargs: Any) -> Any:
        if active_call_tracer() is None:
            raise RuntimeError(
                f"{self}.{name}(...): TensorNode operations are only recorded inside "
                "`with graph.insert_exprs():`"
            )
        return getattr(Tensor, name)(self, *args, **kwargs)

    method.__name__ = name
    return method


NODE_METHODS = (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__",
    "__rpow__", "__neg__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__", "__matmul__",
    "__rmatmul__", "__getitem__", "astype", "reshape", "transpose", "flatten", "sum", "mean",
    "max", "min", "prod", "broadcast",
)
for _name in NODE_METHODS:
    setattr(TensorNode, _name, _node_method(_name))
