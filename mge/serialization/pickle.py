"""``mge.save`` / ``mge.load``: pickle modules, state dicts and tensors to files.

Tensors pickle as data (a numpy array, the dtype and the device name), never as
backend objects, so a file saved under the torch backend loads under numpy and the
other way round. ``load`` can move tensors to other devices (``map_location``) and
also reads pickles written by real MegEngine whose tensors are
``megengine.tensor.Tensor``/``Parameter`` (they load as mge Tensors/Parameters), those
of MegEngine 1.1 and 1.2 included (1.1 kept the data in the tensor's state).
``load`` admits data only unless called with ``weights_only=False`` (see
:mod:`mge.serialization.restricted_unpickler`).

Example:
    >>> import io, mge
    >>> buf = io.BytesIO()
    >>> mge.save({"w": mge.tensor([1.0, 2.0])}, buf)
    >>> _ = buf.seek(0)
    >>> mge.load(buf, map_location="cpu0")["w"].device
    'cpu0'
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from types import ModuleType
from typing import IO, Any

import numpy as np

from ..device import parse_device
from ..tensor import Parameter, Tensor
from ..utils.atomic_file import atomic_write
from .restricted_unpickler import RestrictedUnpickler

MapLocation = str | dict[str, str] | Callable[[str], str] | None
PathOrFile = str | os.PathLike | IO[bytes]


def save(
    obj: Any,
    f: PathOrFile,
    pickle_module: ModuleType = pickle,
    pickle_protocol: int = pickle.DEFAULT_PROTOCOL,
) -> None:
    """Pickle ``obj`` (a Module, a ``state_dict()``, tensors, ...) to a path or binary file.

    A path is written atomically (:mod:`mge.utils.atomic_file`): if pickling fails or the
    process dies, the previous file stays as it was and no partial file is left.

    Example:
        >>> import mge, mge.module as M, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "fc.pkl")
        >>> mge.save(M.Linear(2, 3).state_dict(), path)
        >>> sorted(mge.load(path))
        ['bias', 'weight']

    Raises:
        TypeError: when ``f`` is neither a path nor a writable binary file.
    """
    if isinstance(f, (str, os.PathLike)):
        with atomic_write(f) as fout:
            save(obj, fout, pickle_module, pickle_protocol)
        return
    if not hasattr(f, "write"):
        raise TypeError(f"mge.save: {f!r} is neither a path nor a writable file")
    pickle_module.dump(obj, f, pickle_protocol)


def _device_mapper(map_location: MapLocation) -> Callable[[str], str]:
    """Turn ``map_location`` (None, a device, a dict or a callable) into ``device -> device``."""
    if map_location is None:
        return lambda device: device
    if isinstance(map_location, str):
        parse_device(map_location)
        return lambda _device: map_location
    if isinstance(map_location, dict):
        for key, value in map_location.items():
            parse_device(key)
            parse_device(value)
        table = dict(map_location)
        # MegEngine matches the first four characters: "gpu0" also covers "gpu0:1"
        return lambda device: table.get(device[:4], table.get(device, device))
    if callable(map_location):
        return map_location
    raise TypeError(
        "mge.load: map_location should be None, a device name, a dict or a function, "
        f"got {type(map_location).__name__}"
    )


def _make_tensor(cls: type[Tensor], value: np.ndarray, device: str, name: str | None) -> Tensor:
    tensor = cls(value, dtype=value.dtype, device=device)
    tensor.name = name
    return tensor


def _megengine_tensor_class(cls: type[Tensor], mapper: Callable[[str], str],
                            legacy: list[Tensor]) -> type:
    """A stand-in for ``megengine.tensor.<cls>``: real MegEngine (1.2 on) pickles tensors
    as ``cls.__new__(cls, array, dtype, device, ...)``; building it yields an mge tensor.

    MegEngine 1.1 pickled ``cls.__new__(cls)`` and put the data, dtype and device in the
    state (``Tensor.__setstate__`` reads them): such tensors are listed in ``legacy``
    for :func:`_finish_legacy`."""

    class _FromMegEngine:
        def __new__(_cls, *args: Any):
            if not args:
                tensor = cls.__new__(cls)
                legacy.append(tensor)
                return tensor
            data, dtype, device = (*args, None, None)[:3]
            value = np.asarray(data, dtype=dtype)
            return _make_tensor(cls, value, mapper(str(device or "xpux")), None)

    return _FromMegEngine


def _finish_legacy(legacy: list[Tensor], mapper: Callable[[str], str]) -> None:
    """Check that every MegEngine 1.1 tensor got its data; move it where ``mapper`` says."""
    for tensor in legacy:
        try:
            device = tensor._device
        except AttributeError:
            raise pickle.UnpicklingError(
                "mge.load: a MegEngine 1.1 Tensor without its data in the state") from None
        target = mapper(str(device))
        if target != device:
            tensor._place(target)


def load(
    f: PathOrFile,
    map_location: MapLocation = None,
    pickle_module: ModuleType = pickle,
    *,
    weights_only: bool = True,
) -> Any:
    """Load an object saved by :func:`save` (or by MegEngine's ``megengine.save``).

    By default (``weights_only=True``) only data loads: tensors, numpy arrays, containers,
    state dicts, mge modules and pickled TracedModules; a pickle that names anything else
    (``os.system``, ``eval``, a class from your own code) is refused with
    :class:`~mge.serialization.restricted_unpickler.WeightsOnlyUnpicklingError` (a
    ``pickle.UnpicklingError``) before it runs; classes of your own can be admitted one by
    one with :func:`mge.serialization.add_safe_globals`. ``weights_only=False`` unpickles anything,
    which **runs whatever code the file contains**: use it only for files you trust.

    Args:
        f: a path or a binary file object.
        map_location: where tensors go: None (their saved device), a device name for
            all (``"cpu0"``), a dict ``{"gpu0": "cpu0"}`` matched on the saved device's
            first four characters, or a function ``saved_device -> device``.
        pickle_module: a module with ``Unpickler`` (default :mod:`pickle`); another
            module needs ``weights_only=False``.
        weights_only: admit data only (the default); False is unsafe for untrusted files.

    Example:
        >>> import io, mge
        >>> buf = io.BytesIO()
        >>> mge.save(mge.tensor([1.0], device="cpu0"), buf)
        >>> _ = buf.seek(0)
        >>> mge.load(buf, map_location={"cpu0": "cpu1"}).device
        'cpu1'

    Raises:
        FileNotFoundError: for a missing path (the message names it).
        ValueError / TypeError: for an invalid ``map_location``, or a ``pickle_module``
            other than :mod:`pickle` with ``weights_only=True``.
        WeightsOnlyUnpicklingError: when ``weights_only=True`` refuses the file (the
            message names the file and what was refused).
    """
    if weights_only and pickle_module is not pickle:
        raise ValueError(
            "mge.load: weights_only=True loads with mge's restricted unpickler; a custom "
            f"pickle_module ({getattr(pickle_module, '__name__', pickle_module)!r}) needs "
            "weights_only=False, which can run code from the file"
        )
    if isinstance(f, (str, os.PathLike)):
        if not os.path.exists(f):
            raise FileNotFoundError(f"mge.load: no such file: {os.fspath(f)!r}")
        with open(f, "rb") as fin:
            return load(fin, map_location, pickle_module, weights_only=weights_only)
    mapper = _device_mapper(map_location)

    def rebuild(cls: type, value: np.ndarray, device: str, name: str | None) -> Tensor:
        if not (isinstance(cls, type) and issubclass(cls, Tensor)):
            raise pickle.UnpicklingError(f"mge.load: {cls!r} is not a Tensor class")
        return _make_tensor(cls, value, mapper(device), name)

    legacy: list[Tensor] = []
    replacements: dict[tuple[str, str], Any] = {
        ("mge.tensor", "_rebuild_tensor"): rebuild,
        ("megengine.tensor", "Tensor"): _megengine_tensor_class(Tensor, mapper, legacy),
        ("megengine.tensor", "Parameter"): _megengine_tensor_class(Parameter, mapper, legacy),
    }
    if weights_only:
        source = getattr(f, "name", None)
        result = RestrictedUnpickler(f, replacements, source=str(source or "<file>")).load()
    else:
        class Unpickler(pickle_module.Unpickler):  # type: ignore[name-defined,misc]
            def find_class(self, module: str, name: str) -> Any:
                found = replacements.get((module, name))
                return found if found is not None else super().find_class(module, name)

        result = Unpickler(f).load()
    _finish_legacy(legacy, mapper)
    return result


__all__ = ["load", "save"]
