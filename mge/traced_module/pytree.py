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
from typing import Any


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
        raise ValueError(f"unknown tree kind {self.kind}")

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
    leaves.append(obj)
    return LEAF
