"""The load cache: a plan's exported engine model kept on disk, so that loading the same
model again skips parsing, the inference passes and the ONNX export.

Like OpenVINO's model cache (``CACHE_DIR``), the first load of a plain ``.mge`` on a
whole-graph plan backend (onnxruntime, OpenVINO) writes an entry; a later load with the
same file bytes and the same settings reads it and only creates the engine's session.
The graph itself is parsed only when something needs it (another input shape, a dump,
fast-run chosen again after load); see :mod:`.cached_plan`.

An entry is a folder named by its key under ``$MGE_HOME/lite/load_cache/``:
``meta.json`` (backend, plan options, IO, the other files' sizes and digests) and either
the model onnxruntime saved as it optimized it on this CPU (``ort.onnx``, ``ort.bin``:
the next session skips graph optimization) or the ONNX model with its large weights
declared (``model.onnx``) and the weights (``weights.bin``, raw little-endian arrays,
64-byte aligned). It is written after the load that compiled the model returned, in a
background thread (:mod:`.entry_writer`), in a temporary folder renamed when whole. Nothing in
an entry is code: JSON, ONNX protobuf and raw numbers; loading one runs nothing.
The key is a SHA-256 digest of the file's bytes,
the network's settings (config, threads, IO, algorithm policy, fast-run's stored
choices), the CPU's flags, the versions of Python and mge and (in a source checkout) the
size and time of every mge source file. A model file met before is found by its
identity through an alias (``<alias key>.path``: the entry key and the code's
fingerprint). An empty ``<probe key>.probe`` marks bytes of that size, head and tail
as having an entry (:func:`probe_key`): a model met for the first time whose probe
has no marker is loaded at once, without waiting for its full digest. The engine's
version is checked against the
entry's when it is read. Entries that cannot be read, do not match or are stale are
ignored (logged) and written again.

``MGE_LOAD_CACHE`` names another folder; ``""`` or ``"0"`` turns the cache off (so does
``LiteConfig.load_cache = False``). ``MGE_LOAD_CACHE_VERIFY=1`` records the SHA-256 of
an entry's files when writing it and checks them on every read (entries without digests
are then rebuilt); by default, as for OpenVINO's cache and Python's ``__pycache__``, only
sizes are checked (entries are only ever written whole).

Example:
    >>> import os
    >>> os.environ["MGE_LOAD_CACHE"] = "0"
    >>> cache_dir() is None
    True
    >>> del os.environ["MGE_LOAD_CACHE"]
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import secrets
import shutil
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

LOGGER = logging.getLogger("mge.lite")
#: the environment variable naming the folder ("" or "0": no cache)
ENV_PATH = "MGE_LOAD_CACHE"
#: set to "1" to check the digests of an entry's files on every read
ENV_VERIFY = "MGE_LOAD_CACHE_VERIFY"
#: the entry format; bumped when an entry's meaning changes
FORMAT = 1
_ALIGN = 64
#: the dtypes a weight may have in an entry (plain numbers; no objects, no structures)
_KINDS = "biuf"


def cache_dir() -> str | None:
    """The folder entries are kept in (``None``: the cache is off)."""
    from ..hub.hub import overridable_cache_path

    return overridable_cache_path(ENV_PATH, "lite", "load_cache")


@functools.cache
def code_fingerprint() -> str:
    """What identifies this mge: its version and, in a source checkout (where the code
    changes without a new version), the size and time of every source file."""
    import mge

    root = os.path.dirname(os.path.abspath(mge.__file__))
    parts = [mge.__version__, sys.version]
    if os.path.exists(os.path.join(os.path.dirname(root), ".git")):
        stack = [root]
        while stack:
            with os.scandir(stack.pop()) as found:
                for entry in found:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.name.endswith(".py"):
                        st = entry.stat()
                        parts.append(f"{entry.path}:{st.st_size}:{st.st_mtime_ns}")
    parts.sort()
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def plain(value: Any) -> Any:
    """``value`` as JSON-able data (objects by their fields, enums by name) for a key."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "value") and type(value).__module__ != "builtins":
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, np.dtype):
        return value.str
    fields = getattr(value, "__dict__", None)
    return plain(fields) if fields is not None else repr(value)


def entry_key(data: bytes | Any, settings: Any, code: bool = True) -> str:
    """The key of a model's entry: a digest of its bytes (or their ``hashlib.sha256``,
    which is updated) and ``settings`` (made JSON-able by :func:`plain`); ``code=False``
    leaves :func:`code_fingerprint` out (an alias key: :func:`read_alias` checks it)."""
    from ..runtime.cpu import cpu_flags

    digest = hashlib.sha256(data) if isinstance(data, (bytes, bytearray, memoryview)) \
        else data
    digest.update(json.dumps([FORMAT, code_fingerprint() if code else None,
                              sorted(cpu_flags()), plain(settings)], sort_keys=True).encode())
    return digest.hexdigest()


#: bytes of a model's head and of its tail that its probe key reads (with its size)
PROBE_BYTES = 1 << 16


def probe_key(data: bytes | memoryview, settings: Any) -> str:
    """A cheap key of a model's bytes (their size, first and last :data:`PROBE_BYTES`)
    with ``settings``: bytes whose probe has no marker (:func:`has_probe`) have no entry,
    so a first load need not wait for the SHA-256 of all its bytes. Never a key to serve
    an entry by: bytes that differ elsewhere share it (a marker found only means their
    entry is looked up by its full key)."""
    view = memoryview(data)
    digest = hashlib.sha256(len(view).to_bytes(8, "little"))
    digest.update(view[:PROBE_BYTES])
    digest.update(view[-PROBE_BYTES:])
    return entry_key(digest, settings, code=False)


def has_probe(probe: str) -> bool:
    """Whether an entry was written for bytes of this :func:`probe_key`."""
    folder = cache_dir()
    return folder is not None and os.path.exists(os.path.join(folder, probe + ".probe"))


def write_probe(probe: str, folder: str | None = None) -> None:
    """Mark that an entry was written for bytes of ``probe`` (after the entry; failures
    are logged: without its marker, the entry is found by no first load, only rewritten)."""
    folder = folder or cache_dir()
    if folder is None:
        return
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, probe + ".probe"), "ab"):
            pass
    except OSError as exc:
        LOGGER.warning("load cache: cannot write the probe %s (%s)", probe, exc)


@dataclasses.dataclass
class Entry:
    """One entry: the engine model and its weights, with what a plan needs around them.

    Attributes:
        meta: the JSON metadata (backend, plan options, IO vars, shapes, memory report).
        model: the ONNX model's bytes (``None``: the entry keeps only a saved form).
        weights: the weights the model declares, by initializer name.
        saved: a folder of files the engine saved (onnxruntime's optimized model): on
            write, they are moved into the entry; on read, the entry's folder.
    """

    meta: dict[str, Any]
    model: bytes | None = None
    weights: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    saved: str | None = None


#: the files of an entry's folder besides the engine's saved ones
META, MODEL, WEIGHTS = "meta.json", "model.onnx", "weights.bin"


def _file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
            else hashlib.sha256(f.read()).hexdigest()


def _weights(raw: np.ndarray, table: list) -> dict[str, np.ndarray]:
    """The weight arrays of a weights file's bytes, by the metadata's table."""
    weights = {}
    for name, dtype, shape, offset in table:
        dt = np.dtype(dtype)
        if dt.kind not in _KINDS or dt.fields is not None:
            raise ValueError(f"weight {name!r} has dtype {dtype}")
        count = math.prod(shape) * dt.itemsize
        if offset % _ALIGN or offset + count > raw.size:
            raise ValueError(f"weight {name!r} lies outside the weights file")
        weights[name] = raw[offset:offset + count].view(dt).reshape(shape)
    return weights


def read_entry(key: str, folder: str | None = None) -> Entry | None:
    """The entry of ``key`` in ``folder`` (default: :func:`cache_dir`); ``None``: none,
    or unusable (the reason is logged)."""
    folder = folder or cache_dir()
    if folder is None:
        return None
    base = os.path.join(folder, key)
    try:
        with open(os.path.join(base, META), "rb") as f:
            meta = json.loads(f.read())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        LOGGER.warning("load cache: ignoring the entry %s (%s)", base, exc)
        return None
    try:
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("key") != key:
            raise ValueError("another format or key")
        verify = os.environ.get(ENV_VERIFY) == "1"
        for name, (size, digest) in meta["files"].items():
            path = os.path.join(base, name)
            if os.path.basename(name) != name or name in (META, "", ".", ".."):
                raise ValueError(f"file name {name!r}")
            if os.path.getsize(path) != size:
                raise ValueError(f"{name} has another size than the metadata's (a partial "
                                 "write?)")
            if verify and (not digest or _file_digest(path) != digest):
                raise ValueError(f"{name} has another digest than the metadata's (or none: "
                                 f"written without {ENV_VERIFY}=1)")
        model = weights = None
        if MODEL in meta["files"]:
            with open(os.path.join(base, MODEL), "rb") as f:
                model = f.read()
        if WEIGHTS in meta["files"]:
            weights = _weights(np.fromfile(os.path.join(base, WEIGHTS), dtype=np.uint8),
                               meta["weights"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        LOGGER.warning("load cache: ignoring the entry %s (%s); it will be written again",
                       base, exc)
        return None
    return Entry(meta, model, weights or {}, base if meta.get("saved") else None)


def _weights_file(weights: dict[str, np.ndarray]) -> tuple[bytes, list] | None:
    """The weights file's bytes and table (``None``: a weight is not plain numbers)."""
    chunks, table, offset = [], [], 0
    for name, array in weights.items():
        array = np.ascontiguousarray(array)
        if array.dtype.kind not in _KINDS or array.dtype.fields is not None:
            LOGGER.info("load cache: weight %r has dtype %s; no entry written", name,
                        array.dtype)
            return None
        little = array.dtype.newbyteorder("<")
        data = array.astype(little, copy=False).tobytes()
        pad = -offset % _ALIGN
        chunks += [b"\0" * pad, data]
        offset += pad
        table.append([name, little.str, list(array.shape), offset])
        offset += len(data)
    return b"".join(chunks), table


def write_entry(key: str, entry: Entry, folder: str | None = None) -> bool:
    """Write ``entry`` under ``key`` in ``folder`` (default: :func:`cache_dir`): its
    files go to a new folder, renamed to the key's when whole (a reader sees the entry
    whole or not at all; a usable entry another process wrote meanwhile is kept);
    ``False`` (logged) when it cannot be written or holds weights of another kind than
    plain numbers."""
    folder = folder or cache_dir()
    if folder is None:
        return False
    packed = _weights_file(entry.weights) if entry.weights else (b"", [])
    if packed is None:
        return False
    tmp = os.path.join(folder, f".{key[:16]}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        os.makedirs(folder, exist_ok=True)
        remove_stale(folder)
        os.mkdir(tmp)  # the umask applies
        if entry.model is not None:
            _write(os.path.join(tmp, MODEL), entry.model)
        if entry.weights:
            _write(os.path.join(tmp, WEIGHTS), packed[0])
        for name in os.listdir(entry.saved) if entry.saved else ():
            os.replace(os.path.join(entry.saved, name), os.path.join(tmp, name))
        verify = os.environ.get(ENV_VERIFY) == "1"  # digests cost a read of every file
        files = {name: [os.path.getsize(os.path.join(tmp, name)),
                        _file_digest(os.path.join(tmp, name)) if verify else ""]
                 for name in os.listdir(tmp)}
        meta = {**entry.meta, "format": FORMAT, "key": key, "weights": packed[1],
                "files": files, "saved": entry.saved is not None}
        _write(os.path.join(tmp, META), json.dumps(meta).encode())
        _publish(tmp, folder, key)
    except OSError as exc:
        LOGGER.warning("load cache: cannot write the entry %s (%s)", key, exc)
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def _publish(tmp: str, folder: str, key: str) -> None:
    """Rename the whole entry ``tmp`` to ``key``'s folder. One there already (damaged or
    stale, as this load did not use it, or the same entry another process wrote
    meanwhile) is first renamed away and then removed: a process reading it meanwhile
    finds files missing and loads the model as if there were no entry."""
    final = os.path.join(folder, key)
    try:
        os.rename(tmp, final)
        return
    except OSError:
        if not os.path.lexists(final):
            raise
    old = os.path.join(folder, f".{key[:16]}-old.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    os.rename(final, old)
    try:
        os.rename(tmp, final)
    finally:
        shutil.rmtree(old, ignore_errors=True)


#: how old a temporary folder must be before its writer is taken for gone (seconds), and
#: after which it is removed even if a process with its writer's id is alive
_STALE_AFTER, _ABANDONED_AFTER = 60.0, 86400.0


def remove_stale(folder: str) -> None:
    """Remove the temporary folders and files in ``folder`` left by writers that were
    killed (their process is gone and they are older than a minute, or a day old)."""
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as found:
        for item in found:
            if not (item.name.startswith(".") and item.name.endswith(".tmp")) and \
                    not (item.name.endswith(".tmp") and ".path." in item.name):
                continue
            with contextlib.suppress(OSError, ValueError):
                age = now - item.stat(follow_symlinks=False).st_mtime
                pid = int(item.name.rsplit(".", 2)[-2].split("-")[0])
                if age > _ABANDONED_AFTER or (age > _STALE_AFTER and not _alive(pid)):
                    if item.is_dir(follow_symlinks=False):
                        shutil.rmtree(item.path, ignore_errors=True)
                    else:
                        os.remove(item.path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def read_alias(alias: str) -> str | None:
    """The entry key an alias names (``None``: none, not a key, or written by another
    mge). An alias file holds the key and the :func:`code_fingerprint` of the mge that
    wrote it; alias keys leave the fingerprint out, so that a load that finds no alias
    (a model met for the first time) need not take it (it walks the source tree of a
    checkout): :mod:`.cached_load` takes it in the thread hashing a model whose probe
    has a marker, else in the entry writer, after the load returned."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        with open(os.path.join(folder, alias + ".path"), "rb") as f:
            text = f.read(129).decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    key, code = text[:64], text[64:]
    if len(text) != 128 or not all(c in "0123456789abcdef" for c in text):
        return None
    return key if code == code_fingerprint() else None


def write_alias(alias: str, key: str, folder: str | None = None) -> None:
    """Make ``alias`` name the entry ``key`` in ``folder`` (default: :func:`cache_dir`;
    atomically; failures are logged)."""
    folder = folder or cache_dir()
    if folder is None:
        return
    path = os.path.join(folder, alias + ".path")
    tmp = f"{path}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        os.makedirs(folder, exist_ok=True)
        _write(tmp, (key + code_fingerprint()).encode("ascii"))
        os.replace(tmp, path)  # atomic: a reader sees the old alias or the new one
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        LOGGER.warning("load cache: cannot write the alias %s (%s)", alias, exc)


__all__ = ["ENV_PATH", "ENV_VERIFY", "META", "MODEL", "WEIGHTS", "Entry", "cache_dir",
           "code_fingerprint", "entry_key", "has_probe", "plain", "probe_key", "read_alias",
           "read_entry", "remove_stale", "write_alias", "write_entry", "write_probe"]
