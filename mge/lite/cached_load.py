"""``LiteNetwork.load`` through the load cache (:mod:`.load_cache`): the key of a network's
load, a load from an entry, and the entry a first load writes.

Only plain ``.mge`` files go through the cache (not packed, encrypted or test-case
files: what they hold depends on more than their bytes), and not with a global layout
transform (chosen by timing at each load). A load from an entry installs a
:class:`~.cached_plan.LazyPlanCache`; an entry that cannot be used is logged and the
model is loaded as usual (and its entry written again).

A model met for the first time whose probe key (size, head and tail:
:func:`~.load_cache.probe_key`) has a marker (an entry was written for such bytes) is
hashed in a thread while it is parsed, and its bytes' entry, if any, is looked up after
the parse (:meth:`Miss.lookup`), once their digest is taken. Bytes whose probe has no
marker have no entry: they are not hashed during the load at all (a cold load of a large
model spent tens of ms of CPU on a digest nothing read before it returned). The entry a
load compiles is written in the background after it returned (:func:`store_entry`),
which takes the digest there when the load did not.

A model given as a path is first looked up by the file's identity (real path, size,
modification time in ns, inode, device) in a small alias file naming the entry its
bytes had (and the code that wrote it): a later load of the unchanged file neither reads
nor hashes it, as Python trusts a source file's size and time for its ``__pycache__``.
``MGE_LOAD_CACHE_VERIFY=1`` always reads and hashes the file. When the graph of such a
network is needed later, the file is read then and must still have the bytes its entry
was made from.

Example:
    >>> found = open_load(network, "model.mge", True)          # doctest: +SKIP
    >>> isinstance(found, CachedLoad)                          # doctest: +SKIP
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import shutil
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from ..graph.ir import Graph
from ..jit.testcase import is_testcase_file
from ..runtime.fast_run import CACHE_CATEGORY, Selection
from ..runtime.plan import PlanCache, PlanOptions
from .cached_plan import LazyPlanCache, entry_of
from .entry_writer import wait_for, write_later
from .fast_run_disk import load_choices
from .load_cache import (
    ENV_VERIFY,
    Entry,
    cache_dir,
    code_fingerprint,
    entry_key,
    has_probe,
    plain,
    probe_key,
    read_alias,
    read_entry,
    write_alias,
    write_entry,
    write_probe,
)
from .loading import ModelSource, read_model, read_model_bytes
from .packed_model import PACKED_TAG
from .persistent_cache import PERSISTENT_CACHE
from .struct import LOGGER, LiteError

if TYPE_CHECKING:
    from .network import LiteNetwork


def settings(network: LiteNetwork) -> dict[str, Any]:
    """Everything besides the file's bytes that decides what a load compiles."""
    fast_run: list[str] = []
    if network.config.plan_backend in (None, "auto"):
        load_choices()  # fast-run's stored choices decide "auto"'s backend
        fast_run = sorted(k.hex() + ":" + v.hex() for k, v in
                          PERSISTENT_CACHE.categories.get(CACHE_CATEGORY, {}).items())
    return {"config": network.config, "threads": network._threads,
            "device": network._device_id, "io": network.network_io,
            "inplace": network._inplace_mode, "extra": network._extra,
            "policy": network._algo_policy, "fast_run": fast_run}


def _usable(network: LiteNetwork) -> bool:
    config = network.config
    return bool(getattr(config, "load_cache", True)) and cache_dir() is not None and \
        not config.bare_model_cryption_name and not network._layout_transform


def _file_ident(file: ModelSource) -> str | None:
    """A model file's identity (``None``: not a path, unreadable, or verifying)."""
    if not isinstance(file, (str, os.PathLike)) or os.environ.get(ENV_VERIFY) == "1":
        return None
    try:
        st = os.stat(file)
        real = os.path.realpath(file)
    except OSError:
        return None
    return f"path\0{real}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_dev}"


def _alias_key(ident: str, now: Any) -> str:
    """The alias key of a file identity with a network's settings ``now`` (as
    :func:`~.load_cache.plain` gives them; without the code's fingerprint: the alias file
    holds it, see ``read_alias``)."""
    return entry_key(ident.encode(), now, code=False)


class CachedLoad(NamedTuple):
    """A load from an entry: the plan cache, the network's plan options, and fast-run's
    choice when the first load had one (``from_cache``: nothing was timed)."""

    cache: LazyPlanCache
    options: PlanOptions
    fast_run: Selection | None


class _Hashing:
    """The SHA-256 of a model's bytes, computed in a thread (``hashlib`` lets go of the
    GIL on large buffers) while the caller parses the model; the thread also takes the
    code's fingerprint the entry key needs (in a checkout, a ``stat`` of every source
    file, which lets go of the GIL too)."""

    def __init__(self, data: bytes) -> None:
        self._digest: Any = None
        self._thread = threading.Thread(target=self._run, args=(data,), daemon=True,
                                        name="mge-load-cache-hash")
        self._thread.start()

    def _run(self, data: bytes) -> None:
        code_fingerprint()  # cached for the process
        self._digest = hashlib.sha256(data)

    def result(self) -> Any:
        """The ``hashlib.sha256`` object (waits for the thread)."""
        self._thread.join()
        return self._digest


@dataclasses.dataclass
class Miss:
    """A load the cache could not serve yet: the model's bytes, and the entry its bytes
    may have (see :meth:`lookup`), where its own entry goes."""

    data: bytes
    source: str
    #: the file given, and its identity (taken before it was read; ``None``: not a path)
    file: ModelSource = None
    ident: str | None = None
    #: the digest being taken while the model is parsed (``None``: not taken during the
    #: load, as no entry of such bytes was known when they were read)
    hashing: _Hashing | None = None
    #: whether these bytes may have an entry (a plain ``.mge`` with the cache on)
    keyed: bool = False

    def digest(self) -> Any:
        """The ``hashlib.sha256`` of the bytes (from the thread, or taken now)."""
        return self.hashing.result() if self.hashing is not None else \
            hashlib.sha256(self.data)

    def lookup(self, network: LiteNetwork, use_info: bool) -> CachedLoad | None:
        """The load from the entry of these bytes with ``network``'s settings, if one
        is usable (``None``: load the model). Called after the model was parsed, while
        its digest was taken; bytes whose probe key has no marker (and none being
        written by this process) have no entry, and their digest is not taken."""
        if not self.keyed:
            return None
        now = plain(settings(network))
        probe = probe_key(self.data, now)
        wait_for(probe)  # this process may be writing an entry of such bytes
        if not has_probe(probe):
            return None
        key = entry_key(self.digest().copy(), now)
        entry = read_entry(key)
        found = entry and _from_entry(network, entry, self.file, self.data, self.source,
                                      use_info)
        if found is not None and self.ident is not None:
            write_alias(_alias_key(self.ident, now), key)
        return found


def open_load(network: LiteNetwork, file: ModelSource, use_info: bool) -> CachedLoad | Miss:
    """This load from its entry, or the model's bytes to load as usual (see the module
    doc): a file met before (same identity) comes from the entry its alias names; else
    its bytes are read and hashed in the background, and :meth:`Miss.lookup` then finds
    the entry of those bytes, if any."""
    if not _usable(network):
        return Miss(*read_model_bytes(file))
    ident = _file_ident(file)
    now = plain(settings(network))
    alias = _alias_key(ident, now) if ident is not None else None
    if alias is not None:
        wait_for(alias)  # this process may be writing it
    key = read_alias(alias) if alias is not None else None
    entry = read_entry(key) if key is not None else None
    if entry is not None:
        found = _from_entry(network, entry, file, None, None, use_info)
        if found is not None:
            return found
    data, source = read_model_bytes(file)
    if bytes(data[:len(PACKED_TAG)]) == PACKED_TAG or is_testcase_file(data):
        return Miss(data, source)
    probe = probe_key(data, now)
    wait_for(probe)  # this process may be writing an entry of such bytes
    hashing = _Hashing(data) if has_probe(probe) else None
    return Miss(data, source, file, ident, hashing, keyed=True)


def _from_entry(network: LiteNetwork, entry: Entry, file: ModelSource, data: bytes | None,
                source: str | None, use_info: bool) -> CachedLoad | None:
    start = time.perf_counter()
    name = source or os.fspath(file)  # type: ignore[arg-type]

    def materialize() -> tuple[Graph, PlanCache]:
        nonlocal data
        if data is None:
            data, _ = read_model_bytes(file)
            if hashlib.sha256(data).hexdigest() != entry.meta["file_sha256"]:
                raise LiteError(f"{name} changed on disk after this network loaded it from "
                                "the load cache; load it again")
        model = read_model(data, network.config, use_info, name)
        graph = network._select_outputs(model.graph)
        return graph, PlanCache(graph, cache.options)

    try:
        cache = LazyPlanCache(entry, materialize)
        options = PlanOptions(**entry.meta["network_options"])
        chosen = entry.meta.get("fast_run")
    except Exception as exc:  # noqa: BLE001  (any failure: the entry is not used)
        LOGGER.warning("load cache: the entry of %s is not used (%s: %s); loading the "
                       "model", name, type(exc).__name__, exc)
        return None
    seconds = time.perf_counter() - start
    LOGGER.info("load cache: %s loaded from its entry in %.1f ms", name, seconds * 1e3)
    return CachedLoad(cache, options, chosen and Selection(chosen[0], chosen[1], True, seconds))


def store_entry(network: LiteNetwork, miss: Miss, captured: list[tuple[Any, Any]]) -> bool:
    """Start writing the entry of the load just made from ``miss`` (``captured``: the
    models exported while it compiled) in the background (:mod:`.entry_writer`);
    ``False`` when it has none to store (a staged model, a plan bound op by op) or the
    cache is off."""
    cache = network._cache
    folder = cache_dir()
    if not miss.keyed or type(cache) is not PlanCache or network._options is None or \
            folder is None:
        return False
    shapes = network._configured_shapes(cache.graph)
    build = entry_of(cache, cache.plan(shapes), shapes, captured)
    if build is None:
        return False
    extra = {"network_options": dataclasses.asdict(network._options),
             "fast_run": network._fast_run and [network._fast_run.backend,
                                                network._fast_run.compute_dtype]}
    now = plain(settings(network))  # fast-run may have chosen since the lookup
    probe = probe_key(miss.data, now)
    alias = _alias_key(miss.ident, now) if miss.ident is not None else None

    def write() -> None:
        digest = miss.digest()
        key = entry_key(digest.copy(), now)
        extra["file_sha256"] = digest.hexdigest()
        scratch = os.path.join(folder, f".saving.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        os.makedirs(scratch)
        try:
            entry = build(scratch)
            entry.meta.update(extra)
            if write_entry(key, entry, folder):
                write_probe(probe, folder)
                if alias is not None:
                    write_alias(alias, key, folder)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    write_later(miss.source, write, (probe, alias or ""))
    return True


__all__ = ["CachedLoad", "Miss", "open_load", "settings", "store_entry"]
