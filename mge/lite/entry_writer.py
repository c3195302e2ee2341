"""Load-cache entries written off the load's path: after the load that compiled a model
has returned, in a background thread.

Writing an entry costs about as much as the load itself (onnxruntime optimizes the
model a second time to save it; the weights are written out), so a first load only
hands the job over (:func:`write_later`) and returns. The thread is not a daemon: an
interpreter that exits waits for it, so a normal exit never leaves half an entry (and an
entry is renamed into place only when whole; a process killed meanwhile leaves a
temporary folder, which a later write removes). A job that fails is logged and leaves
no entry; another process loading the same model meanwhile finds none and compiles the
model itself, while a load in the same process waits for the write (:func:`wait_for`:
less than compiling the model again, and no second write of the same entry).
:func:`wait_writes` waits for the jobs started so far (tests, tools that want the entry
on disk now).

Example:
    >>> write_later("model.mge", lambda: None)
    >>> wait_writes(timeout=10)
    True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from .struct import LOGGER

_PENDING: set[threading.Thread] = set()
#: the threads writing, by the keys they write (entry keys, alias keys)
_BY_KEY: dict[str, threading.Thread] = {}
_LOCK = threading.Lock()


def write_later(what: str, job: Callable[[], object], keys: Iterable[str] = ()) -> None:
    """Run ``job`` (which writes the entry of ``what``, under ``keys``) in a background
    thread; an exception it raises is logged, never raised."""
    keys = [k for k in keys if k]
    #: set once this thread is back from ``thread.start()``: the job holds the GIL for
    #: long C calls (onnxruntime optimizing the model), and a job running at once kept
    #: the load that handed it over from returning for 5-20 ms
    handed_over = threading.Event()

    def body() -> None:
        handed_over.wait()
        start = time.perf_counter()
        try:
            job()
        except Exception as exc:  # noqa: BLE001  (a cache write must never fail a program)
            LOGGER.warning("load cache: the entry of %s was not written (%s: %s)", what,
                           type(exc).__name__, exc)
        else:
            LOGGER.info("load cache: the entry of %s took %.1f ms to write (in the "
                        "background)", what, (time.perf_counter() - start) * 1e3)
        finally:
            with _LOCK:
                _PENDING.discard(thread)
                for key in keys:
                    if _BY_KEY.get(key) is thread:
                        del _BY_KEY[key]

    thread = threading.Thread(target=body, name="mge-load-cache-writer", daemon=False)
    with _LOCK:
        _PENDING.add(thread)
        _BY_KEY.update((key, thread) for key in keys)
    thread.start()  # it runs until it waits for the event, letting go of the GIL
    handed_over.set()  # it takes the GIL back once this thread lets go of it


def wait_for(key: str) -> None:
    """Wait until no thread of this process is writing under ``key``."""
    with _LOCK:
        thread = _BY_KEY.get(key)
    if thread is not None and thread is not threading.current_thread():
        thread.join()


def wait_writes(timeout: float | None = None) -> bool:
    """Wait for the entries being written (at most ``timeout`` seconds in all);
    ``True`` when none is still being written."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _LOCK:
        pending = list(_PENDING)
    for thread in pending:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    with _LOCK:
        return not any(t.is_alive() for t in _PENDING)


__all__ = ["wait_for", "wait_writes", "write_later"]
