"""Backends: array libraries that run ops, each kernel registered on its op class.

``numpy`` is the reference semantics; ``torch`` is the fast CPU/CUDA backend. A
backend is chosen per process with :func:`set_default_backend` or the ``MGE_BACKEND``
environment variable (default: numpy), and per Lite network by its config.

A kernel is ``kernel(op, *arrays) -> array | tuple[array, ...]``: it receives the
``OpDef`` (params) and the backend's arrays, and returns one array per output. It is
kept on the op class (``op.kernels[backend name]``), registered by the op family's home
(``mge/ops/<family>/numpy_kernels.py``, ``torch_kernels.py``; see :mod:`mge.ops.registry`);
a backend imports those modules and keeps only its machinery (arrays, devices, preparing).

Kernels are *prepared once* per op and input signature: :meth:`Backend.prepare` turns
``(op, PrepareSite)`` into a :class:`Prepared` run function. Eager execution caches it
per op and signature (:mod:`mge.core.apply`); compiled plans prepare each op once with
the constants they know (packed filters, fused epilogues, buffers to write into). An
op with a *preparer* for a backend specialises there; any other op runs its kernel.
The built-in preparations specialise for plans (``site.host``) and decline in eager
execution, whose results stay exactly the kernels'.

Example:
    >>> import mge
    >>> mge.set_default_backend("numpy")
    >>> get_backend().name
    'numpy'
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Any

import numpy as np

from ..core.opdef import REGISTRY, Kernel, OpDef, OpError
from ..ops.registry import Prepared, Preparer, PrepareSite

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

    @property
    def kernels(self) -> dict[type[OpDef], Kernel]:
        """The registered op classes this backend has a kernel for."""
        return {cls: self.kernel_for(cls) for cls in REGISTRY.values()
                if self.kernel_for(cls) is not None}

    def kernel_for(self, cls: type[OpDef]) -> Kernel | None:
        """This backend's kernel of op class ``cls`` (``None`` when it has none)."""
        return cls.kernels.get(self.name)

    def run(self, op: OpDef, arrays: list[Any]) -> Any:
        """Run the kernel for ``op``; ``NotImplementedError`` naming op and backend if absent."""
        fn = self.kernel_for(type(op))
        if fn is None:
            raise NotImplementedError(f"backend {self.name!r} has no kernel for {op.type_name}")
        return fn(op, *arrays)

    def prepare(self, op: OpDef, site: PrepareSite) -> Prepared:
        """``op``'s kernel prepared once for ``site``: the op's preparer for this backend
        when it has one that applies, else the plain kernel with ``op`` bound."""
        preparer = type(op).preparers.get(self.name)
        if preparer is not None:
            prepared = preparer(op, site)
            if prepared is not None:
                return prepared
        fn = self.kernel_for(type(op))
        if fn is None:
            raise NotImplementedError(f"backend {self.name!r} has no kernel for {op.type_name}")
        return Prepared(functools.partial(fn, op), site.all_args())

    def asarray(self, value: np.ndarray, device: str | None = None) -> Any:
        raise NotImplementedError

    def to_numpy(self, array: Any) -> np.ndarray:
        raise NotImplementedError

    def on_device(self, array: Any, device: str) -> Any:
        """``array`` placed where ``device`` keeps its data: the same object when it is
        there already (host-only backends keep every array where it is)."""
        return array

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
    "PrepareSite",
    "Prepared",
    "Preparer",
    "available_backends",
    "get_backend",
    "get_default_backend",
    "load_backend",
    "set_default_backend",
]
