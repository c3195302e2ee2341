"""Backends: tables of kernels keyed by op type name, one table per array library.

``numpy`` is the reference semantics; ``torch`` is the fast CPU/CUDA backend. A
backend is chosen per process with :func:`set_default_backend` or the ``MGE_BACKEND``
environment variable (default: numpy), and per Lite network by its config.

A kernel is ``kernel(op, *arrays) -> array | tuple[array, ...]``: it receives the
``OpDef`` (params) and the backend's arrays, and returns one array per output.

Example:
    >>> import mge
    >>> mge.set_default_backend("numpy")
    >>> get_backend().name
    'numpy'
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.opdef import OpDef, OpError

Kernel = Callable[..., Any]

_MODULES = {"numpy": "mge.backends.numpy", "torch": "mge.backends.torch",
            "onnxruntime": "mge.backends.onnxruntime"}


class Backend:
    """A kernel table plus array conversion for one array library.

    Subclasses implement ``asarray`` (numpy array -> backend array on a device),
    ``to_numpy`` and ``array_type``.
    """

    name: str = ""
    array_type: type = object
    #: False for backends too slow for eager test suites (``available_backends`` skips
    #: them unless asked for every backend)
    eager: bool = True

    def __init__(self) -> None:
        self.kernels: dict[str, Kernel] = {}

    def kernel(self, *type_names: str) -> Callable[[Kernel], Kernel]:
        """Decorator registering a kernel for one or more op type names."""

        def deco(fn: Kernel) -> Kernel:
            for name in type_names:
                self.kernels[name] = fn
            return fn

        return deco

    def run(self, op: OpDef, arrays: list[Any]) -> Any:
        """Run the kernel for ``op``; ``NotImplementedError`` naming op and backend if absent."""
        try:
            fn = self.kernels[op.type_name]
        except KeyError:
            raise NotImplementedError(
                f"backend {self.name!r} has no kernel for {op.type_name}"
            ) from None
        return fn(op, *arrays)

    def asarray(self, value: np.ndarray, device: str | None = None) -> Any:
        raise NotImplementedError

    def to_numpy(self, array: Any) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<mge backend {self.name}: {len(self.kernels)} kernels>"


_loaded: dict[str, Backend] = {}
_default: list[str] = [os.environ.get("MGE_BACKEND", "numpy")]


def available_backends(every: bool = False) -> list[str]:
    """Names of the backends that can be loaded in this environment (the eager ones
    unless ``every``)."""
    names = []
    for name in _MODULES:
        try:
            backend = load_backend(name)
        except ImportError:
            continue
        if every or backend.eager:
            names.append(name)
    return names


def load_backend(name: str) -> Backend:
    """Import (once) and return the backend called ``name``.

    Raises:
        ValueError: unknown backend name.
        ImportError: the backend's library is not installed (names the pip extra).
    """
    if name in _loaded:
        return _loaded[name]
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(_MODULES)}")
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as exc:
        raise ImportError(
            f"backend {name!r} needs {exc.name}: pip install 'mge[{name}]'"
        ) from exc
    _loaded[name] = module.BACKEND
    return module.BACKEND


def get_backend(name: str | None = None) -> Backend:
    """The named backend, or the process default."""
    return load_backend(name or _default[0])


def set_default_backend(name: str) -> None:
    """Choose the backend used for eager execution in this process ("numpy" or "torch")."""
    load_backend(name)
    _default[0] = name


def get_default_backend() -> str:
    """Name of the current default backend."""
    return _default[0]


__all__ = [
    "Backend",
    "OpError",
    "available_backends",
    "get_backend",
    "get_default_backend",
    "load_backend",
    "set_default_backend",
]
