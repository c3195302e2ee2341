"""MegEngine's ``megengine.traced_module.utils`` helpers that user code calls.

Example:
    >>> import mge.module as M
    >>> net = M.Sequential(M.Linear(2, 2))
    >>> get_subattr(net, "0.weight").shape
    (2, 2)
"""

from __future__ import annotations

from typing import Any

from .expr import get_attr_path


def get_subattr(module: Any, target: str) -> Any:
    """The attribute at dotted path ``target`` of ``module`` (``module`` itself for ``""``;
    numeric parts index Sequentials and lists)."""
    return module if target == "" else get_attr_path(module, target)


__all__ = ["get_subattr"]
