"""The unpickler behind ``mge.load(..., weights_only=True)``: data in, never code.

A pickle is a small program: its ``GLOBAL`` opcodes import any name and ``REDUCE``/
``NEWOBJ``/``BUILD`` call what they imported, which is how a crafted file runs
``os.system``. :class:`RestrictedUnpickler` (like ``torch.load(weights_only=True)``) runs
that program with the dangerous steps guarded:

* ``GLOBAL``/``STACK_GLOBAL`` admit only an allow-list, checked *before* anything is
  imported: numpy arrays, scalars and dtypes; builtin containers and scalars;
  ``collections.OrderedDict``/``defaultdict``; mge's Tensors and Parameters, its
  ``Module`` and ``OpDef`` classes, its public ``F.*`` functions (TracedModule graphs
  record them) and the data classes of a TracedModule graph (its exprs, nodes, graphs and
  tree structures). ``megengine.<x>`` names (MegEngine's own pickles, the
  :mod:`mge.compat` alias) are checked as ``mge.<x>``. Everything else (``os.system``,
  ``builtins.eval``/``getattr``, ``functools.partial``, ``mge.hub.import_module``,
  numpy helpers that call functions) is refused with :class:`WeightsOnlyUnpicklingError`,
  whose message names ``module.name``. Objects the caller admitted with
  :func:`mge.serialization.add_safe_globals` (or inside ``with safe_globals([...])``) are
  admitted under the name a pickle gives them.
* ``REDUCE`` calls only an admitted global, never another object (a Module built by the
  pickle is callable, but is not called); ``NEWOBJ`` builds only admitted classes;
  ``BUILD`` fills in only instances of admitted classes, with no ``__dunder__`` keys;
  ``INST``/``OBJ`` (protocol 0/1 object construction) are refused; ``SETITEMS``/
  ``APPENDS``/``ADDITEMS`` fill only builtin containers.
* After loading, checks registered with :func:`register_load_check` run on the objects of
  their classes (mge.traced_module registers one that refuses graphs whose recorded
  attribute reads or method calls reach past modules and tensors).

Example:
    >>> import io, pickle
    >>> RestrictedUnpickler(io.BytesIO(pickle.dumps({"w": [1.5]}))).load()
    {'w': [1.5]}
    >>> evil = b"cos\\nsystem\\n(S'true'\\ntR."
    >>> RestrictedUnpickler(io.BytesIO(evil)).load()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mge.serialization.restricted_unpickler.WeightsOnlyUnpicklingError: ...'os.system'...
"""

from __future__ import annotations

import builtins
import collections
import importlib
import pickle
from collections.abc import Callable
from typing import IO, Any

import numpy as np

try:  # numpy 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

from ..core.opdef import OpDef
from ..core.qparams import QParams, QuantMode
from ..module import Module
from ..tensor import Tensor
from .safe_globals import admitted_global


class WeightsOnlyUnpicklingError(pickle.UnpicklingError):
    """A pickle asked for something ``weights_only=True`` does not admit."""


#: non-mge globals a data pickle may name (numpy arrays live under two module names)
_FIXED: dict[tuple[str, str], Any] = {
    **{(module, name): getattr(_multiarray, name)
       for module in ("numpy.core.multiarray", "numpy._core.multiarray")
       for name in ("_reconstruct", "scalar")},
    **{(module, "_frombuffer"): _numeric._frombuffer  # arrays in pickle protocol 5
       for module in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    # a quantized tensor's params (MegEngine pickles them with the tensor): plain data
    ("mge.core.qparams", "QParams"): QParams,
    ("mge.core.qparams", "QuantMode"): QuantMode,
    ("numpy", "dtype"): np.dtype,
    # scalar types, as MegEngine 1.1 pickled a tensor's dtype (``numpy.int8``)
    **{("numpy", name): getattr(np, name)
       for name in ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                    "uint64", "float16", "float32", "float64", "complex64", "complex128")},
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("_codecs", "encode"): __import__("_codecs").encode,  # protocol 0-2 bytes
    **{("builtins", name): getattr(builtins, name)
       for name in ("bool", "int", "float", "complex", "str", "bytes", "bytearray", "list",
                    "tuple", "dict", "set", "frozenset", "slice", "range")},
    **{("__builtin__", name): getattr(builtins, name)  # Python 2 pickles
       for name in ("set", "frozenset", "slice", "complex", "bytearray")},
}

#: mge packages whose names may be admitted (after the per-object checks below)
_MGE_PACKAGES = ("mge.tensor", "mge.module", "mge.models", "mge.functional", "mge.ops",
                 "mge.traced_module")
#: the data classes of a pickled TracedModule graph, and its argument-slot marker
_GRAPH_DATA = frozenset({
    "mge.traced_module.expr.Input", "mge.traced_module.expr.GetAttr",
    "mge.traced_module.expr.CallMethod", "mge.traced_module.expr.CallFunction",
    "mge.traced_module.expr.Apply", "mge.traced_module.expr.Constant",
    "mge.traced_module.expr._NODE", "mge.traced_module.node.ModuleNode",
    "mge.traced_module.node.TensorNode", "mge.traced_module.graph.InternalGraph",
    "mge.traced_module.graph.NameSpace", "mge.traced_module.pytree.TreeDef",
})
_LOAD_CHECKS: dict[type, Callable[[Any], None]] = {}


def register_load_check(cls: type, check: Callable[[Any], None]) -> None:
    """Run ``check(obj)`` on every ``cls`` instance a restricted load builds, once the whole
    pickle is loaded; it raises :class:`WeightsOnlyUnpicklingError` to refuse the file.

    Example:
        >>> class Box: ...
        >>> register_load_check(Box, lambda box: None)
    """
    _LOAD_CHECKS[cls] = check


def _mge_object(module: str, name: str) -> Any | None:
    """The mge object ``module.name`` if the allow-list admits it, else None.

    Names are checked before anything is imported; a dotted or dunder name never passes."""
    if "." in name or name.startswith("__"):
        return None
    if not any(module == p or module.startswith(p + ".") for p in _MGE_PACKAGES):
        return None
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    if f"{module}.{name}" in _GRAPH_DATA:
        return obj
    if isinstance(obj, type) and issubclass(obj, (Module, OpDef, Tensor)):
        return obj
    if module.startswith("mge.functional") and getattr(obj, "__mge_traceable__", None):
        return obj  # a public F.* function, as TracedModule graphs record them
    return None


class RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    """A pure-Python unpickler that admits data only (see the module docstring).

    ``replacements`` maps ``(module, name)`` to the object to use instead (mge.load's
    tensor rebuilders); they count as admitted callables. ``source`` names the file in
    errors.

    Example:
        >>> import io, pickle, numpy as np
        >>> RestrictedUnpickler(io.BytesIO(pickle.dumps(np.arange(3)))).load()
        array([0, 1, 2])
    """

    def __init__(self, file: IO[bytes], replacements: dict[tuple[str, str], Any] | None = None,
                 source: str = "<file>") -> None:
        super().__init__(file)
        self._replacements = replacements or {}
        self._source = source
        self._admitted: dict[int, Any] = {}  # id -> admitted global (kept alive)
        self._to_check: list[Any] = []
        self.dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]
        for opcode, method in (
            (pickle.REDUCE, RestrictedUnpickler._reduce),
            (pickle.NEWOBJ, RestrictedUnpickler._newobj),
            (pickle.NEWOBJ_EX, RestrictedUnpickler._newobj_ex),
            (pickle.BUILD, RestrictedUnpickler._build),
            (pickle.INST, RestrictedUnpickler._refuse_inst),
            (pickle.OBJ, RestrictedUnpickler._refuse_inst),
            (pickle.SETITEM, RestrictedUnpickler._setitem),
            (pickle.SETITEMS, RestrictedUnpickler._setitems),
            (pickle.APPEND, RestrictedUnpickler._append),
            (pickle.APPENDS, RestrictedUnpickler._appends),
            (pickle.ADDITEMS, RestrictedUnpickler._additems),
        ):
            self.dispatch[opcode[0]] = method

    def refuse(self, what: str) -> WeightsOnlyUnpicklingError:
        return WeightsOnlyUnpicklingError(
            f"{self._source}: weights_only=True refuses {what}. Only data (tensors, numpy "
            "arrays, containers, state dicts, mge modules and TracedModules) loads by "
            "default; admit a class you trust with mge.serialization.add_safe_globals([...]), "
            "or, if you trust the whole file, load it with weights_only=False, which can run "
            "arbitrary code."
        )

    # ------------------------------------------------------------------ globals
    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        obj = self._replacements.get(key)
        if obj is None:
            obj = _FIXED.get(key)
        if obj is None:
            root, dot, rest = module.partition(".")
            mge_module = "mge" + dot + rest if root == "megengine" else module
            obj = _mge_object(mge_module, name)
        if obj is None:
            obj = admitted_global(module, name)
        if obj is None:
            raise self.refuse(f"the global '{module}.{name}'")
        self._admitted[id(obj)] = obj
        return obj

    def _is_admitted(self, obj: Any) -> bool:
        return self._admitted.get(id(obj)) is obj

    def _track(self, obj: Any) -> Any:
        if type(obj) in _LOAD_CHECKS:
            self._to_check.append(obj)
        return obj

    # ------------------------------------------------------------------ calls
    def _reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if not self._is_admitted(func):
            raise self.refuse(f"a call of {_describe(func)}")
        self.stack[-1] = self._track(func(*args))

    def _new(self, cls: Any, args: tuple, kwargs: dict) -> None:
        if not (isinstance(cls, type) and self._is_admitted(cls)):
            raise self.refuse(f"building an instance of {_describe(cls)}")
        self.append(self._track(cls.__new__(cls, *args, **kwargs)))

    def _newobj(self) -> None:
        args = self.stack.pop()
        self._new(self.stack.pop(), args, {})

    def _newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        self._new(self.stack.pop(), args, kwargs)

    def _refuse_inst(self) -> None:
        raise self.refuse("protocol 0/1 object construction (INST/OBJ)")

    def _build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        cls = type(inst)
        if not (self._is_admitted(cls) or isinstance(inst, (np.ndarray, np.dtype, Tensor))):
            raise self.refuse(f"setting the state of a {cls.__module__}.{cls.__qualname__}")
        if "__setstate__" in _class_attrs(cls):
            inst.__setstate__(state)
            return
        slots = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slots = state
        for part in (state, slots):
            if part is None:
                continue
            if not isinstance(part, dict) or any(
                    not isinstance(k, str) or k.startswith("__") for k in part):
                raise self.refuse(f"the state ({_describe(part)}) for a {cls.__qualname__}")
        if state:
            inst.__dict__.update(state)
        for key, value in (slots or {}).items():
            setattr(inst, key, value)

    # ------------------------------------------------------------------ containers
    def _container(self, position: int, kind: type | tuple[type, ...]) -> Any:
        target = self.stack[position]
        if not isinstance(target, kind):
            raise self.refuse(f"filling a {type(target).__qualname__} like a container")
        return target

    def _setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._container(-1, dict)[key] = value

    def _setitems(self) -> None:
        items = self.pop_mark()
        target = self._container(-1, dict)
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _append(self) -> None:
        value = self.stack.pop()
        self._container(-1, list).append(value)

    def _appends(self) -> None:
        items = self.pop_mark()
        self._container(-1, list).extend(items)

    def _additems(self) -> None:
        items = self.pop_mark()
        self._container(-1, set).update(items)

    # ------------------------------------------------------------------ entry
    def load(self) -> Any:
        result = super().load()
        for obj in self._to_check:
            try:
                _LOAD_CHECKS[type(obj)](obj)
            except WeightsOnlyUnpicklingError as exc:
                raise self.refuse(str(exc)) from None
        return result


def _class_attrs(cls: type) -> set[str]:
    """Names defined by ``cls`` and its bases other than ``object``."""
    return {name for klass in cls.__mro__ if klass is not object for name in vars(klass)}


def _describe(obj: Any) -> str:
    """Name what ``obj`` is without running its code (no ``repr``)."""
    if isinstance(obj, type):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__} object"


__all__ = ["RestrictedUnpickler", "WeightsOnlyUnpicklingError", "register_load_check"]
