"""Lazy filters over a graph's exprs and nodes (MegEngine's ``as_list``/``as_unique``...).

Example:
    >>> graph.get_function_by_type(F.relu).as_count()  # doctest: +SKIP
    17
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .expr import CallFunction, CallMethod
from .node import ModuleNode


class BaseFilter:
    """An iterable of exprs or nodes with MegEngine's conversion helpers."""

    def __init__(self, source: Callable[[], Iterator[Any]]) -> None:
        self._source = source

    def __iter__(self) -> Iterator[Any]:
        return self._source()

    def _where(self, pred: Callable[[Any], bool]) -> Any:
        return type(self)(lambda: (x for x in self._source() if pred(x)))

    def as_list(self) -> list[Any]:
        return list(self)

    def as_dict(self) -> dict[int, Any]:
        return {x._id: x for x in self}

    def as_unique(self) -> Any:
        """The single match; ``ValueError`` when there are none or several."""
        items = self.as_list()
        if len(items) != 1:
            raise ValueError(f"expected exactly one match, found {len(items)}: {items}")
        return items[0]

    def as_count(self) -> int:
        return sum(1 for _ in self)


def _ids(ids: int | Sequence[int] | None) -> set[int] | None:
    if ids is None:
        return None
    return {ids} if isinstance(ids, int) else set(ids)


class ExprFilter(BaseFilter):
    """Filter over exprs."""

    def call_function(self, func: Callable | None) -> ExprFilter:
        return self._where(lambda e: isinstance(e, CallFunction)
                           and (func is None or e.func is func))

    def call_method(self, method: str | None) -> ExprFilter:
        return self._where(lambda e: isinstance(e, CallMethod)
                           and (method is None or e.method == method))

    def expr_id(self, expr_id: int | Sequence[int] | None) -> ExprFilter:
        wanted = _ids(expr_id)
        return self._where(lambda e: wanted is None or e._id in wanted)


class NodeFilter(BaseFilter):
    """Filter over nodes."""

    def type(self, owner_type: type | str) -> NodeFilter:  # noqa: A003 - MegEngine name
        """ModuleNodes whose module is of ``owner_type`` (a class, or a traced class name)."""
        def match(n: Any) -> bool:
            if not isinstance(n, ModuleNode):
                return False
            mt = n.module_type
            if isinstance(owner_type, str) or isinstance(mt, str):
                name = owner_type if isinstance(owner_type, str) else owner_type.__qualname__
                return getattr(mt, "__qualname__", mt) == name
            return isinstance(mt, type) and issubclass(mt, owner_type)

        return self._where(match)

    def node_id(self, node_id: int | Sequence[int] | None) -> NodeFilter:
        wanted = _ids(node_id)
        return self._where(lambda n: wanted is None or n._id in wanted)

    def name(self, name: str | None, ignorecase: bool = True) -> NodeFilter:
        return self._where(lambda n: name is None or match_name(
            name, (n.name, n.qualname, _graph_scoped_name(n)), ignorecase))


def _graph_scoped_name(node: Any) -> str:
    """``<graph name>_<node name>``: the name MegEngine's ``get_node_by_name`` matches."""
    graph = node.top_graph
    return node.name if graph is None else f"{graph.name}_{node.name}"


def match_name(pattern: str, names: Iterable[str], ignorecase: bool) -> bool:
    """Glob match against any of ``names``."""
    if ignorecase:
        pattern = pattern.lower()
        names = [n.lower() for n in names]
    return any(fnmatch.fnmatchcase(n, pattern) for n in names)
