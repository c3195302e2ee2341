"""``OperatorNodeConfig``: MegEngine's per-operator settings (name, output dtype, devices),
which code written for MegEngine's graph builder passes around.

mge builds ops through ``apply`` on the inputs' device; the config only carries the values.

Example:
    >>> c = OperatorNodeConfig()
    >>> c.comp_node = "cpu0"
    >>> c.comp_node_arr, c.name
    (('cpu0',), None)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class OperatorNodeConfig:
    """An operator's ``name``, output ``dtype`` and devices (``comp_node_arr``; one of them:
    ``comp_node``), all unset at first."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.dtype: Any = None
        self._comp_nodes: tuple[Any, ...] = ()

    @property
    def comp_node_arr(self) -> tuple[Any, ...]:
        return self._comp_nodes

    @comp_node_arr.setter
    def comp_node_arr(self, value: Sequence[Any]) -> None:
        self._comp_nodes = tuple(value)

    @property
    def comp_node(self) -> Any:
        """The single device (``ValueError`` when none or several are set, as MegEngine)."""
        if len(self._comp_nodes) != 1:
            raise ValueError("invalid number of comp_node")
        return self._comp_nodes[0]

    @comp_node.setter
    def comp_node(self, value: Any) -> None:
        self._comp_nodes = (value,)


__all__ = ["OperatorNodeConfig"]
