"""MegEngine's ``megengine.traced_module.utils`` helpers that user code calls.

Example:
    >>> import mge.module as M
    >>> net = M.Sequential(M.Linear(2, 2))
    >>> get_subattr(net, "0.weight").shape
    (2, 2)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .expr import get_attr_path


def get_subattr(module: Any, target: str) -> Any:
    """The attribute at dotted path ``target`` of ``module`` (``module`` itself for ``""``;
    numeric parts index Sequentials and lists)."""
    return module if target == "" else get_attr_path(module, target)


def _convert_kwargs_to_args(func: Callable | inspect.FullArgSpec, args: tuple, kwargs: dict,
                            is_bounded: bool = False) -> tuple[tuple, dict]:
    """Normalize a call of ``func``: every positional parameter passed positionally
    (from ``kwargs`` or its default), keyword-only ones in the dict with their defaults.
    ``is_bounded``: ``func`` is a method and ``args`` lack ``self``.

    Example:
        >>> def f(a, b, c=4, *, d, e=3):
        ...     pass
        >>> _convert_kwargs_to_args(f, (1,), {"b": 2, "d": 6})
        ((1, 2, 4), {'d': 6, 'e': 3})

    Raises:
        TypeError: a parameter given twice or missing.
    """
    spec = func if isinstance(func, inspect.FullArgSpec) else \
        inspect.getfullargspec(inspect.unwrap(func))
    name = getattr(func, "__qualname__", "function")
    names = spec.args[1:] if is_bounded else spec.args
    defaults = dict(zip(reversed(names), reversed(spec.defaults or ())))
    twice = set(names[:len(args)]) & set(kwargs)
    if twice:
        raise TypeError(f"{name} got multiple values for argument {', '.join(sorted(twice))}")
    new_args = list(args)
    for arg in names[len(args):]:
        if arg not in kwargs and arg not in defaults:
            raise TypeError(f"{name} missing required positional argument: {arg}")
        new_args.append(kwargs[arg] if arg in kwargs else defaults[arg])
    new_kwargs = {}
    for arg in spec.kwonlyargs:
        if arg not in kwargs and arg not in (spec.kwonlydefaults or {}):
            raise TypeError(f"{name} missing required keyword-only argument: {arg}")
        new_kwargs[arg] = kwargs[arg] if arg in kwargs else spec.kwonlydefaults[arg]
    extra = set(kwargs) - set(names) - set(spec.kwonlyargs)
    if extra and spec.varkw is None:
        raise TypeError(f"{name} got unexpected keyword arguments {', '.join(sorted(extra))}")
    new_kwargs.update({k: kwargs[k] for k in sorted(extra)})
    return tuple(new_args), new_kwargs


__all__ = ["get_subattr"]
