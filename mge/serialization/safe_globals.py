"""Opt-in globals for ``mge.load(..., weights_only=True)``: classes and functions you trust.

``weights_only=True`` (the default) admits only data and mge's own classes. A pickle of
your own class (a custom Module, a dataclass of hyper-parameters) is refused with an
error naming ``module.Class``; admitting that class here lets it load without turning the
restriction off for everything else (the API of ``torch.serialization.add_safe_globals``):

* :func:`add_safe_globals` admits objects for the rest of the process;
* :class:`safe_globals` admits them inside a ``with`` block only;
* :func:`get_safe_globals` lists them, :func:`clear_safe_globals` forgets them all.

An admitted object is matched by the name a pickle gives it (``obj.__module__`` and
``obj.__qualname__``, or the name passed as ``(obj, "module.name")``) and is used as it
is: nothing is imported while loading. An admitted class may be built and its state set;
an admitted function may be called by the pickle, so admit only what is harmless to call
with any arguments.

Example:
    >>> import io, fractions, mge
    >>> buf = io.BytesIO(); mge.save({"lr": fractions.Fraction(1, 3)}, buf)
    >>> with safe_globals([fractions.Fraction]):
    ...     _ = buf.seek(0); mge.load(buf)
    {'lr': Fraction(1, 3)}
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

SafeGlobal = Any | tuple[Any, str]

_LOCK = threading.Lock()
_ADMITTED: dict[str, Any] = {}  # "module.qualname" -> object


def _entry(item: SafeGlobal) -> tuple[str, Any]:
    """``("module.qualname", obj)`` for one argument of :func:`add_safe_globals`."""
    if isinstance(item, tuple):
        if len(item) != 2 or not isinstance(item[1], str) or "." not in item[1]:
            raise TypeError(f"mge.serialization.add_safe_globals: {item!r} should be an "
                            "object or (object, 'module.name')")
        return item[1], item[0]
    module = getattr(item, "__module__", None)
    qualname = getattr(item, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"mge.serialization.add_safe_globals: {type(item).__name__} object "
                        f"{item!r} has no __module__/__qualname__ a pickle could name it by; "
                        "pass (object, 'module.name')")
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise TypeError(f"mge.serialization.add_safe_globals: {module}.{qualname} is defined "
                        "inside a function; pickle cannot name it")
    return f"{module}.{qualname}", item


def add_safe_globals(safe_globals: Iterable[SafeGlobal]) -> None:
    """Admit ``safe_globals`` (objects, or ``(object, "module.name")`` pairs) in every later
    ``weights_only=True`` load of this process.

    Raises:
        TypeError: for an entry a pickle cannot name (no ``__module__``/``__qualname__``,
            defined inside a function) or a malformed pair.

    Example:
        >>> import fractions
        >>> add_safe_globals([fractions.Fraction])
        >>> "fractions.Fraction" in [f"{g.__module__}.{g.__qualname__}"
        ...                          for g in get_safe_globals()]
        True
        >>> clear_safe_globals()
    """
    entries = [_entry(item) for item in safe_globals]  # all checked before any is added
    with _LOCK:
        _ADMITTED.update(entries)


def get_safe_globals() -> list[Any]:
    """The objects :func:`add_safe_globals` admitted (pairs for those added under a name of
    their own), in the order they were added.

    Example:
        >>> get_safe_globals()
        []
    """
    with _LOCK:
        items = list(_ADMITTED.items())
    return [obj if _entry_name(obj) == name else (obj, name) for name, obj in items]


def _entry_name(obj: Any) -> str | None:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if isinstance(module, str) and isinstance(qualname, str) \
        else None


def clear_safe_globals() -> None:
    """Forget every object :func:`add_safe_globals` admitted.

    Example:
        >>> clear_safe_globals(); get_safe_globals()
        []
    """
    with _LOCK:
        _ADMITTED.clear()


def admitted_global(module: str, name: str) -> Any | None:
    """The object admitted as ``module.name``, or None (used by the restricted unpickler)."""
    with _LOCK:
        return _ADMITTED.get(f"{module}.{name}")


class safe_globals:  # noqa: N801 - torch.serialization's name
    """Admit ``safe_globals`` inside a ``with`` block; the admitted set is restored after.

    Example:
        >>> import fractions
        >>> with safe_globals([fractions.Fraction]):
        ...     len(get_safe_globals())
        1
        >>> get_safe_globals()
        []
    """

    def __init__(self, safe_globals: Iterable[SafeGlobal]) -> None:
        self._entries = [_entry(item) for item in safe_globals]
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        with _LOCK:
            self._saved = dict(_ADMITTED)
            _ADMITTED.update(self._entries)

    def __exit__(self, *exc: object) -> None:
        with _LOCK:
            _ADMITTED.clear()
            _ADMITTED.update(self._saved)


__all__ = ["add_safe_globals", "clear_safe_globals", "get_safe_globals", "safe_globals"]
