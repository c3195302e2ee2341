"""Flatten nested call arguments (tuples, lists, dicts) into leaves and back.

Example:
    >>> leaves, tree = tree_flatten(((1, [2, 3]), {"k": 4}))
    >>> leaves
    [1, 2, 3, 4]
    >>> tree.unflatten([10, 20, 30, 40])
    ((10, [20, 30]), {'k': 40})
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

#: user container types: ``"module.qualname"`` -> (type, flatten, unflatten)
_CONTAINERS: dict[str, tuple[type, Callable[[Any], tuple[list, Any]],
                             Callable[[list, Any], Any]]] = {}
#: user types recorded as plain values (call arguments a trace keeps as they are)
LEAF_TYPES: list[type] = []


def register_supported_type(
    type: type,  # noqa: A002 - MegEngine's parameter name
    flatten_fn: Callable[[Any], tuple[list, Any]] | None = None,
    unflatten_fn: Callable[[list, Any], Any] | None = None,
) -> None:
    """Let TracedModule record ``type`` (MegEngine's ``register_supported_type``).

    With ``flatten_fn(obj) -> (values, context)`` and ``unflatten_fn(values, context)``,
    ``type`` is a container whose values are flattened like a tuple's (tensors inside it
    become graph nodes); the context is stored in the graph, so it must be plain data.
    Without them, ``type`` is a leaf: a call argument kept as it is.

    Example:
        >>> class Pair:
        ...     def __init__(self, a, b):
        ...         self.a, self.b = a, b
        >>> register_supported_type(Pair, lambda p: ([p.a, p.b], None),
        ...                         lambda values, _: Pair(*values))
        >>> leaves, tree = tree_flatten(Pair(1, 2))
        >>> leaves, tree.unflatten([3, 4]).b
        ([1, 2], 4)
    """
    if flatten_fn is not None and unflatten_fn is not None:
        _CONTAINERS[f"{type.__module__}.{type.__qualname__}"] = (type, flatten_fn, unflatten_fn)
    elif type not in LEAF_TYPES:
        LEAF_TYPES.append(type)


class TreeDef:
    """The structure of a flattened object: container type, keys and child structures."""

    __slots__ = ("kind", "keys", "children")

    def __init__(self, kind: str, keys: tuple = (), children: tuple = ()) -> None:
        self.kind = kind
        self.keys = keys
        self.children = children

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    def unflatten(self, leaves: list[Any]) -> Any:
        """Rebuild the object from ``leaves`` (as many as ``num_leaves``)."""
        it = iter(leaves)
        out = self._build(it)
        if next(it, _END) is not _END:
            raise ValueError("too many leaves for this tree structure")
        return out

    def _build(self, it: Any) -> Any:
        if self.kind == "leaf":
            return next(it)
        values = [c._build(it) for c in self.children]
        if self.kind == "tuple":
            return tuple(values)
        if self.kind == "list":
            return values
        if self.kind == "dict":
            return dict(zip(self.keys, values))
        if self.kind == "odict":
            return OrderedDict(zip(self.keys, values))
        if self.kind in _CONTAINERS:
            return _CONTAINERS[self.kind][2](values, self.keys[0])
        raise ValueError(f"unknown tree kind {self.kind} (a type not registered with "
                         "register_supported_type in this process?)")

    def _key(self) -> tuple:
        return (self.kind, self.keys, tuple(c._key() for c in self.children))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TreeDef) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self.kind == "leaf":
            return "*"
        inner = ", ".join(
            f"{k}: {c!r}" if self.keys else repr(c)
            for k, c in zip(self.keys or [None] * len(self.children), self.children)
        )
        return {"tuple": f"({inner})", "list": f"[{inner}]"}.get(self.kind, f"{{{inner}}}")

    def __getstate__(self) -> tuple:
        return (self.kind, self.keys, self.children)

    def __setstate__(self, state: tuple) -> None:
        self.kind, self.keys, self.children = state


_END = object()
LEAF = TreeDef("leaf")


def tree_flatten(obj: Any) -> tuple[list[Any], TreeDef]:
    """Split ``obj`` into its leaves and a :class:`TreeDef`."""
    leaves: list[Any] = []
    return leaves, _flatten(obj, leaves)


def _flatten(obj: Any, leaves: list[Any]) -> TreeDef:
    if type(obj) is tuple or type(obj) is list:
        kind = "tuple" if type(obj) is tuple else "list"
        return TreeDef(kind, (), tuple(_flatten(v, leaves) for v in obj))
    if type(obj) is dict or type(obj) is OrderedDict:
        keys = tuple(obj.keys())
        kind = "dict" if type(obj) is dict else "odict"
        return TreeDef(kind, keys, tuple(_flatten(obj[k], leaves) for k in keys))
    name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if name in _CONTAINERS and type(obj) is _CONTAINERS[name][0]:
        values, context = _CONTAINERS[name][1](obj)
        return TreeDef(name, (context,), tuple(_flatten(v, leaves) for v in values))
    leaves.append(obj)
    return LEAF
