"""Run unmodified MegEngine code on mge: an opt-in ``megengine`` -> ``mge`` import alias.

After :func:`install_megengine_alias`, ``import megengine`` gives mge, and any
``megengine.<path>`` gives ``mge.<path>`` (``megengine.functional.nn``,
``megengine.core.tensor.megbrain_graph``, ``megengine.traced_module``, ``megengine.jit``,
``megengine.hub``, ...); ``megenginelite[.<path>]`` gives ``mge.lite[.<path>]``. A meta
path finder, placed first, makes these names resolve to mge even where real MegEngine is
installed. The aliased modules are thin views: attribute reads go to the mge module (a
name mge lacks raises an ``AttributeError`` saying so) and ``megengine.__version__`` is
``"1.13.0"``, the MegEngine API version mge follows (``mge.__version__`` is mge's own).

The alias is never installed implicitly, and installing it refuses (``RuntimeError``) when
real MegEngine is already imported in the process: the two cannot be mixed. To run a
script unchanged: ``python -m mge.compat run script.py [args...]`` (or
``run -m package.module [args...]``).

Example:
    >>> from mge.compat import install_megengine_alias, uninstall_megengine_alias
    >>> install_megengine_alias()
    >>> import megengine.functional as F
    >>> import mge
    >>> F.relu is mge.functional.relu
    True
    >>> uninstall_megengine_alias()
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

#: the MegEngine version whose API mge follows (what ``megengine.__version__`` reports)
MEGENGINE_API_VERSION = "1.13.0"
_ROOTS = {"megengine": "mge", "megenginelite": "mge.lite"}


def _target_name(fullname: str) -> str | None:
    """The mge module an aliased name stands for (``megengine.jit`` -> ``mge.jit``)."""
    root, dot, rest = fullname.partition(".")
    base = _ROOTS.get(root)
    return None if base is None else base + dot + rest


_UNSET = object()


class AliasModule(types.ModuleType):
    """``sys.modules[<megengine name>]``: a view of an mge module.

    Reads go to the mge module; writes go to it too (monkeypatching
    ``megengine.functional.relu`` patches ``mge.functional.relu``), except dunder names and
    the import system binding a submodule, which stay on the view so that mge's own
    attributes are never shadowed (``megengine.tensor`` stays the function). Deleting a
    name written through the view undoes that write (the mge module gets its value back):
    tools that restore a patch by deleting what they set (pytest's ``monkeypatch``, which
    looks for the old value in the view's own namespace) restore mge.
    """

    def __init__(self, name: str, target: types.ModuleType) -> None:
        super().__init__(name, target.__doc__)
        self.__dict__["__mge_target__"] = target
        if not hasattr(target, "__all__"):  # so that `from megengine.x import *` works
            self.__dict__["__all__"] = [n for n in vars(target) if not n.startswith("_")]

    def __getattr__(self, name: str) -> Any:
        target = self.__dict__["__mge_target__"]
        try:
            return getattr(target, name)
        except AttributeError:
            raise AttributeError(
                f"module {self.__name__!r} has no attribute {name!r} "
                f"(it is {target.__name__!r}, which mge provides without {name!r})"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        target = self.__dict__["__mge_target__"]
        if name.startswith("__") and name.endswith("__"):
            self.__dict__[name] = value
        elif isinstance(value, AliasModule) and value.__name__ == f"{self.__name__}.{name}":
            submodule = value.__dict__["__mge_target__"]
            if getattr(target, name, submodule) is submodule:
                self.__dict__[name] = value
        else:
            written = self.__dict__.setdefault("__mge_written__", {})
            written.setdefault(name, getattr(target, name, _UNSET))
            setattr(target, name, value)

    def __delattr__(self, name: str) -> None:
        if name in self.__dict__:
            del self.__dict__[name]
            return
        target = self.__dict__["__mge_target__"]
        original = self.__dict__.get("__mge_written__", {}).pop(name, _UNSET)
        if original is _UNSET:
            delattr(target, name)
        else:
            setattr(target, name, original)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self.__dict__["__mge_target__"])) | set(self.__dict__))

    def __repr__(self) -> str:
        return f"<module {self.__name__!r} (mge's {self.__dict__['__mge_target__'].__name__!r})>"


class _AliasLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = AliasModule(spec.name, sys.modules[spec.loader_state])
        if spec.name == "megengine":
            module.__version__ = MEGENGINE_API_VERSION
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the mge module was imported by the finder."""


class MegEngineAliasFinder(importlib.abc.MetaPathFinder):
    """Resolves ``megengine[.x]`` and ``megenginelite[.x]`` to views of mge's modules."""

    _loader = _AliasLoader()

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        name = _target_name(fullname)
        if name is None:
            return None
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise  # something mge's module itself imports is missing
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: mge's MegEngine alias maps it to {name!r}, "
                "which mge does not provide", name=fullname,
            ) from None
        return importlib.machinery.ModuleSpec(
            fullname, self._loader, origin=getattr(module, "__file__", None), loader_state=name,
            is_package=hasattr(module, "__path__"),
        )


def _is_aliased_name(name: str) -> bool:
    return name.partition(".")[0] in _ROOTS


def _foreign_megengine() -> str | None:
    """The first real MegEngine module imported in this process, if any."""
    for name, module in list(sys.modules.items()):
        if not _is_aliased_name(name) or isinstance(module, AliasModule):
            continue
        return f"{name} ({getattr(module, '__file__', None) or 'built in'})"
    return None


def install_megengine_alias() -> None:
    """Make ``megengine``/``megenginelite`` imports resolve to mge (idempotent).

    Raises:
        RuntimeError: when real MegEngine is already imported in this process.

    Example:
        >>> install_megengine_alias()
        >>> import megengine
        >>> megengine.__version__
        '1.13.0'
        >>> uninstall_megengine_alias()
    """
    foreign = _foreign_megengine()
    if foreign is not None:
        raise RuntimeError(
            f"mge.compat: real MegEngine is already imported in this process ({foreign}); "
            "mge cannot stand in for it now. Install the alias before anything imports "
            "megengine, e.g. run the script with `python -m mge.compat run script.py`."
        )
    if not any(isinstance(finder, MegEngineAliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MegEngineAliasFinder())


def uninstall_megengine_alias() -> None:
    """Remove the alias: the finder and every ``megengine*`` view in ``sys.modules``.

    Example:
        >>> uninstall_megengine_alias()
        >>> "megengine" in sys.modules
        False
    """
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, MegEngineAliasFinder)]
    for name, module in list(sys.modules.items()):
        if isinstance(module, AliasModule):
            del sys.modules[name]


__all__ = [
    "MEGENGINE_API_VERSION",
    "AliasModule",
    "MegEngineAliasFinder",
    "install_megengine_alias",
    "uninstall_megengine_alias",
]
