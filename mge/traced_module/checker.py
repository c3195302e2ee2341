"""Checking a fresh TracedModule against the run it was traced from (MegEngine's
``enable_expr_checker``/``disable_default_checker`` switches).

After ``enable_expr_checker()``, ``trace_module`` runs the new TracedModule on the traced
inputs and compares each output with what the module computed while being traced; a
difference raises :class:`TraceError` naming the output. (MegEngine compares every expr
as it records; mge compares the outputs, which every expr feeds.) Off by default, as it
runs the module a second time.

Example:
    >>> enable_expr_checker()
    >>> traced = trace_module(net, x)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .pytree import tree_flatten
from .recording import TraceError

_settings = {"expr_checker": False}


def enable_expr_checker() -> None:
    """Check every TracedModule ``trace_module`` makes against its traced run."""
    _settings["expr_checker"] = True


def disable_default_checker() -> None:
    """Turn the check :func:`enable_expr_checker` switched on off again."""
    _settings["expr_checker"] = False


def checking() -> bool:
    return _settings["expr_checker"]


def check_outputs(traced: Any, expected: Any, args: tuple, kwargs: dict) -> None:
    """Raise :class:`TraceError` when ``traced(*args, **kwargs)`` differs from ``expected``."""
    got, _ = tree_flatten(traced(*args, **kwargs))
    want, _ = tree_flatten(expected)
    if len(got) != len(want):
        raise TraceError(f"expr checker: the traced module returns {len(got)} values, the "
                         f"traced run returned {len(want)}")
    for k, (g, w) in enumerate(zip(got, want)):
        if isinstance(w, Tensor):
            g_arr, w_arr = np.asarray(g.numpy()), np.asarray(w.numpy())
            if g_arr.shape != w_arr.shape or not np.allclose(g_arr, w_arr, rtol=1e-5,
                                                             atol=1e-6, equal_nan=True):
                raise TraceError(f"expr checker: output {k} of the traced module differs "
                                 f"from the traced run (shape {g_arr.shape} vs {w_arr.shape})")


__all__ = ["check_outputs", "checking", "disable_default_checker", "enable_expr_checker"]
