"""The TracedModule passes' registry (the rewrite engine's
:class:`~mge.graph.rewrite.PassRegistry`; every graph of the module is linted after
each pass).

Example:
    >>> @register_pass("MyPass")          # doctest: +SKIP
    ... def my_pass(traced_module):
    ...     return False
"""

from __future__ import annotations

from typing import Any

from ...graph.rewrite import PassRegistry
from .view import all_graphs


def lint_module(module: Any) -> None:
    """``lint`` every graph of ``module`` (and of the traced modules inside it)."""
    for graph in all_graphs(module):
        graph.lint()


#: every ``tm.optimize`` pass by name (``PASSES[name].run(traced_module)``)
PASSES: PassRegistry[Any] = PassRegistry("TracedModule", lint_module)
register_pass = PASSES.register

__all__ = ["PASSES", "lint_module", "register_pass"]
